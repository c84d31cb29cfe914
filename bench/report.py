"""Merge every benchmark result in bench/results/ into ``latest.json`` and ``latest.md``.

    .venv/bin/python -m bench.report

Each row: benchmark, figure, limit, ratio, target, pass. Rows come from ``geo_locate.json``
(locate_many against the raw STRtree query, target ≥ 0.8), ``http_<db>.json`` (the HTTP
scenarios against the bare view) and ``workflow_<db>.json`` (whole case loops through the JSON
API: cases/s with no limit or ratio target, "—"; it passes when no request failed; the p50/p99
of every step are listed below the table and kept under ``workflow`` in ``latest.json``). A
missing file is reported as a missing row, not skipped.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
GEO_TARGET = 0.8


def _geo_rows() -> list[dict[str, Any]]:
    path = RESULTS / "geo_locate.json"
    if not path.exists():
        return [{"benchmark": "geo_locate_many", "missing": str(path.name), "pass": False}]
    result = json.loads(path.read_text(encoding="utf-8"))
    return [
        {
            "benchmark": f"geo_locate_many ({result['n_points']:,} points)",
            "figure": round(result["locate_many_pts_per_s"]),
            "unit": "points/s",
            "limit": round(result["raw_strtree_query_pts_per_s"]),
            "ratio": round(result["ratio"], 3),
            "target": f">= {GEO_TARGET}",
            "pass": result["ratio"] >= GEO_TARGET and result["mismatches"] == 0,
        }
    ]


def _http_rows(db: str) -> list[dict[str, Any]]:
    path = RESULTS / f"http_{db}.json"
    if not path.exists():
        return [{"benchmark": f"http ({db})", "missing": str(path.name), "pass": False}]
    result = json.loads(path.read_text(encoding="utf-8"))
    return [{k: v for k, v in row.items() if k != "detail"} for row in result["rows"]]


def _workflow(db: str) -> dict[str, Any] | None:
    path = RESULTS / f"workflow_{db}.json"
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def _workflow_rows(db: str) -> list[dict[str, Any]]:
    result = _workflow(db)
    if result is None:
        return [
            {"benchmark": f"workflow_loop ({db})", "missing": f"workflow_{db}.json", "pass": False}
        ]
    return list(result["rows"])


def _workflow_summary(db: str) -> dict[str, Any] | None:
    result = _workflow(db)
    if result is None:
        return None
    keys = ("cases_per_s", "cases_done", "cases_failed", "errors", "seconds", "concurrency")
    return {
        **{k: result[k] for k in keys},
        "steps": {
            name: {"p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "requests": s["requests"]}
            for name, s in result["steps"].items()
        },
    }


def build() -> dict[str, Any]:
    rows = (
        _geo_rows()
        + _http_rows("sqlite")
        + _http_rows("postgres")
        + _workflow_rows("sqlite")
        + _workflow_rows("postgres")
    )
    workflow = {db: _workflow_summary(db) for db in ("sqlite", "postgres")}
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
        "workflow": {db: w for db, w in workflow.items() if w is not None},
        "all_pass": all(r.get("pass") for r in rows),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated {report['generated_at']}. Every limit is measured in the same run.",
        "",
        "| benchmark | figure | limit | ratio | target | pass |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        if "missing" in row:
            lines.append(f"| {row['benchmark']} | not run ({row['missing']} missing) | | | | no |")
            continue
        unit = row.get("unit", "")
        lines.append(
            f"| {row['benchmark']} | {row['figure']} {unit} | {row['limit']} | {row['ratio']} "
            f"| {row['target']} | {'yes' if row['pass'] else 'NO'} |"
        )
    for db, flow in report.get("workflow", {}).items():
        lines += [
            "",
            f"Workflow steps ({db}): {flow['cases_done']} cases in {flow['seconds']} s, "
            f"{flow['concurrency']} concurrent loops, {flow['errors']} failed requests.",
            "",
            "| step | requests | p50 ms | p99 ms |",
            "| --- | --- | --- | --- |",
        ]
        for name, step in flow["steps"].items():
            lines.append(f"| {name} | {step['requests']} | {step['p50_ms']} | {step['p99_ms']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    report = build()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    text = markdown(report)
    (RESULTS / "latest.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
