"""Proof: the task worker killed with SIGKILL at random points loses, doubles and strands nothing.

Runs ``python -m bench.crash_proof`` (see its docstring) as a subprocess: the real
``manage.py worker`` is started, killed with SIGKILL a random 0.05–2 s later, restarted, and
so on; the last one finishes. Afterwards every overdue step is escalated exactly once, every
task ended successfully, every audit row is sealed once and the chain verifies.

``make test`` runs it small (2 kills, 40 cases and 300 audit rows a start) on SQLite, and on
PostgreSQL too when ``DATABASE_URL`` points at one (the proof makes and drops its own database
``crash_proof_<pid>`` on that server). ``make soak`` (``CIVICGRID_PROOF_SCALE=full``) runs
5 kills with 400 cases and 3,000 audit rows a start and writes the figures to
``bench/results/proofs/crash-<engine>.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FULL = os.environ.get("CIVICGRID_PROOF_SCALE", "").lower() == "full"
RUNS = 5 if FULL else 2
CASES = 400 if FULL else 40
AUDIT_ROWS = 3000 if FULL else 300
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "proofs"
DATABASE_URL = os.environ.get("DATABASE_URL", "")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "db",
    [
        "sqlite",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not DATABASE_URL.startswith("postgres"),
                reason="PostgreSQL runs when DATABASE_URL points at one",
            ),
        ),
    ],
)
def test_killed_workers_lose_double_and_strand_nothing(db, tmp_path):
    # given a fresh database with overdue cases, unsealed audit rows and queued tasks
    figures_path = tmp_path / "crash.json"
    command = [
        sys.executable,
        "-m",
        "bench.crash_proof",
        "--db",
        db,
        "--runs",
        str(RUNS),
        "--cases",
        str(CASES),
        "--audit-rows",
        str(AUDIT_ROWS),
        "--seed",
        "20260",
        "--json",
        str(figures_path),
    ]
    if db == "postgres":
        command += ["--pg-url", DATABASE_URL]

    # when the worker is killed RUNS times and the last one finishes
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900 if FULL else 300
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(figures_path.read_text())
    assert figures["violations"] == []
    assert len(figures["kills"]) == RUNS
    assert figures["tasks"] == {"SUCCESSFUL": figures["tasks_enqueued"]}
    assert figures["tasks_enqueued"] == 5 * (RUNS + 1)
    assert figures["escalations"] == figures["expected_escalations"] > CASES // 2
    assert figures["notifications"] == 2 * figures["expected_escalations"]
    assert figures["sealed_rows"] == figures["audit_rows"] > AUDIT_ROWS * (RUNS + 1)
    assert "OK: no task lost, doubled or stuck" in result.stdout
    if FULL:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"crash-{db}.json").write_text(json.dumps(figures, indent=2) + "\n")
