"""Every HTTP benchmark runs end to end at a tiny size, so the benchmark code keeps working.

Its own SQLite file in a temporary directory, gunicorn with 2 workers, a few requests per
scenario. Figures are not asserted (``make bench`` measures them); what is asserted is that
every scenario ran, got only successful answers and produced a row with a ratio, and that the
merged report renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import http_bench, report


def test_http_benchmarks_run_at_a_tiny_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tiny configuration
    args = http_bench.parse_args(
        [
            "--db",
            "sqlite",
            "--cases",
            "200",
            "--demo-cases",
            "10",
            "--seconds",
            "2",
            "--requests",
            "20",
            "--clients",
            "2",
        ]
    )
    results = tmp_path / "results"
    # when
    out = http_bench.run_db("sqlite", args, results=results, var=tmp_path / "var")
    # then every scenario ran without an error answer
    names = {row["benchmark"] for row in out["rows"]}
    assert names == {
        "open311_post_requests (sqlite)",
        "open311_post_p99_over_p50 (sqlite)",
        "open311_get_requests (sqlite)",
        "api_public_cases (sqlite)",
        "queue_page (sqlite)",
        "worker_rss_after_warmup (sqlite)",
    }
    for row in out["rows"]:
        assert row["ratio"] > 0, row
        detail = row.get("detail")
        if detail is not None:
            assert detail["requests"] > 0, row
            assert detail["errors"] == {}, row
    assert out["cases"] >= 200
    saved = json.loads((results / "http_sqlite.json").read_text())
    assert saved["rows"] == out["rows"]
    # and a scenario below its target gets its profiles (cache on and off) next to the results
    row = next(r for r in out["rows"] if r["benchmark"] == "queue_page (sqlite)")
    row["pass"] = False  # whatever it measured at this size
    profile_args = http_bench.parse_args(
        ["--cases", "200", "--demo-cases", "10", "--profile-requests", "3"]
    )
    http_bench.profile_misses("sqlite", profile_args, out, results=results, var=tmp_path / "var")
    profiles = row["profiles"]
    assert [("error" in p) for p in profiles] == [False, False], profiles
    assert Path(profiles[0]["path"]).name == "profile_queue_page_sqlite.txt"
    assert Path(profiles[1]["path"]).name == "profile_queue_page_sqlite_nocache.txt"
    assert "queue_page on sqlite, 3 requests" in Path(profiles[1]["path"]).read_text()
    assert Path(profiles[1]["path"]).with_suffix(".html").exists()
    # and the merged report renders with this file
    monkeypatch.setattr(report, "RESULTS", results)
    merged = report.build()
    text = report.markdown(merged)
    assert "open311_post_requests (sqlite)" in text
    assert "not run (http_postgres.json missing)" in text
