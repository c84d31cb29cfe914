"""The workflow benchmark and the load proof run end to end at a tiny size on the current engine.

One prepared database for both (a SQLite file in a temporary directory, or a PostgreSQL database
of this run's own when DATABASE_URL names a server), gunicorn with 2 workers, 3 case loops, and
5 clients for 3 seconds. Figures are not asserted (``make bench`` and ``make soak`` measure
them); what is asserted is that each script exits 0 — no failed step, no 5xx, every
acknowledged write found — and prints its figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parent.parent


def _pg_base() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    return url.rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(engine, database URL, work directory) shared by both scripts."""
    work = tmp_path_factory.mktemp("bench")
    base = _pg_base()
    if base is None:
        yield "sqlite", f"sqlite:///{work / 'bench.sqlite3'}", work
        return
    import psycopg

    name = f"civicgrid_benchtest_p{os.getpid()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgres", f"{base}/{name}", work
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def common(target: tuple[str, str, Path]) -> list[str]:
    engine, url, work = target
    return [
        "--db",
        engine,
        "--database-url",
        url,
        "--db-cases",
        "20",
        "--demo-cases",
        "5",
        "--var",
        str(work / "var"),
        "--results",
        str(work / "results"),
    ]


def test_the_workflow_benchmark_runs_at_a_tiny_size(
    target: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # when three cases are driven through every step by two concurrent loops
    out = run(
        "bench.workflow_bench",
        *common(target),
        "--cases",
        "3",
        "--seconds",
        "60",
        "--concurrency",
        "2",
        "--warmup",
        "1",
    )
    # then it succeeded and printed cases/s and every step's latencies
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    engine = target[0]
    assert f"workflow ({engine}): 3 cases closed and rated in" in out.stdout
    assert "cases/s" in out.stdout
    assert "failed loops: 0, failed requests: 0" in out.stdout
    for step in ("submit", "accept", "file", "dispatch", "start", "process", "check_pass", "rate"):
        assert f"  {step} " in out.stdout, step
    # and the merged report shows the row with no ratio target
    monkeypatch.setattr(report, "RESULTS", target[2] / "results")
    text = report.markdown(report.build())
    assert f"| workflow_loop ({engine}) |" in text
    assert "| — | — | — | yes |" in text
    assert f"Workflow steps ({engine}): 3 cases" in text


def test_the_load_proof_runs_at_a_tiny_size(target: tuple[str, str, Path]) -> None:
    # when five clients send the mixed workload for three seconds
    out = run("bench.load_proof", *common(target), "--clients", "5", "--seconds", "3")
    # then nothing was lost or failed, and the figures were printed
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    assert f"load proof ({target[0]}): 5 clients" in out.stdout
    assert "requests:" in out.stdout and "p99" in out.stdout
    assert "submissions acknowledged" in out.stdout
    assert "trace rows expected" in out.stdout
    assert "no 5xx, no lost write, no unexpected row: PASS" in out.stdout
    if target[0] == "sqlite":
        assert "journal_mode=wal busy_timeout=20000 ms transaction_mode=IMMEDIATE" in out.stdout
