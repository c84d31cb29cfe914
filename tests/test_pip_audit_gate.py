"""The CI step that audits the installed packages (.ci/pip-audit): what fails it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUDGE = ROOT / ".ci" / "pip_audit_report.py"
CLEAN = {"name": "django", "version": "6.1.3", "vulns": []}
EDITABLE = {"name": "civicgrid", "skip_reason": "distribution marked as editable"}
UNCHECKED = {
    "name": "shapely",
    "skip_reason": "Dependency not found on PyPI and could not be audited: shapely (2.2.0)",
}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [
        {
            "id": "GHSA-h5c8-rqwp-cp95",
            "fix_versions": ["3.1.3"],
            "aliases": ["CVE-2024-22195"],
            "description": "xmlattr filter allows keys with spaces",
        }
    ],
}


def judge(tmp_path: Path, deps: list[dict] | None, mode: str = "fail") -> tuple[int, str]:
    report = tmp_path / "report.json"
    if deps is not None:
        report.write_text(json.dumps({"dependencies": deps, "fixes": []}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(JUDGE), str(report), "1", mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout


def test_a_clean_report_passes(tmp_path: Path) -> None:
    rc, out = judge(tmp_path, [CLEAN, EDITABLE])
    assert rc == 0
    assert "1 installed packages checked, 0 could not be." in out
    assert "no known vulnerabilities" in out


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_a_known_vulnerability_fails_whatever_the_mode(tmp_path: Path, mode: str) -> None:
    rc, out = judge(tmp_path, [CLEAN, VULNERABLE], mode)
    assert rc == 1
    assert "VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195); fixed in 3.1.3" in out


def test_packages_that_could_not_be_checked_fail_unless_allowed(tmp_path: Path) -> None:
    failed, out = judge(tmp_path, [CLEAN, UNCHECKED])
    warned, warn_out = judge(tmp_path, [CLEAN, UNCHECKED], "warn")
    assert failed == 1
    assert "not checked: shapely" in out
    assert "FAILED, packages could not be checked" in out
    assert warned == 0
    assert "WARNING, unchecked packages let through" in warn_out


def test_no_report_at_all_counts_as_unchecked(tmp_path: Path) -> None:
    assert judge(tmp_path, None)[0] == 1
    assert judge(tmp_path, None, "warn")[0] == 0


def test_an_ignored_advisory_needs_a_reason(tmp_path: Path) -> None:
    # given
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("# comment\nGHSA-h5c8-rqwp-cp95\n", encoding="utf-8")

    # when: refused before pip-audit runs (no network needed)
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "pip-audit")],
        env={**os.environ, "CIVICGRID_PIP_AUDIT_IGNORE": str(ignore)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then
    assert result.returncode == 2
    assert "lists GHSA-h5c8-rqwp-cp95 without a reason" in result.stderr


def test_the_repository_ignore_list_gives_a_reason_for_each_advisory() -> None:
    lines = (ROOT / ".ci" / "pip-audit-ignore.txt").read_text(encoding="utf-8").splitlines()
    entries = [line.split(None, 1) for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(entry) == 2 and len(entry[1].strip()) >= 10 for entry in entries), entries
