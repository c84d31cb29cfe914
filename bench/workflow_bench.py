"""The whole case loop through the JSON API, against gunicorn, on SQLite or PostgreSQL.

    .venv/bin/python -m bench.workflow_bench --db sqlite --cases 200 --seconds 60

Prepares the database like ``bench.http_bench`` (demo community + bulk cases, API tokens per
role), starts gunicorn with 2 workers on loopback, then ``--concurrency`` clients each drive
cases one after the other through every step (see ``bench.case_loop``): the resident submits,
the operator accepts, the shift leader files, the dispatcher dispatches, the unit handler
starts and reports the work with a photo, the grid worker checks, the resident rates — 9
requests per case, each with the Bearer token of its role. It stops after ``--cases`` loops or
``--seconds`` (a loop already started finishes). Any non-2xx answer is a failure: it is printed
and ends that case's loop. Figures: cases/s over the wall time and p50/p99 per step.
Results: ``bench/results/workflow_<db>.json``; ``bench.report`` merges them. Exits 1 when any
request failed or no case finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.case_loop import LOOP, Client, Reply, png_bytes, submit_json, with_sqlite_options
from bench.http_bench import HOST, RESULTS, VAR, Server, database_url, prepare
from bench.loadgen import LoadResult

STEP_NAMES = ("submit", *(step.name for step in LOOP))


class Loops:
    """Drives case loops from several threads and keeps their figures."""

    def __init__(self, port: int, creds: dict[str, Any]) -> None:
        self.port = port
        self.creds = creds
        self.tokens = {**creds["tokens"], "reporter": creds["tokens"]["resident"]}
        self.photo = png_bytes()
        self.run_id = uuid.uuid4().hex[:8]
        self.lock = threading.Lock()
        self.steps = {name: LoadResult(name=name, requests=0, seconds=0.0) for name in STEP_NAMES}
        self.failures: list[dict[str, Any]] = []
        self.done = 0
        self.failed = 0

    def _record(self, name: str, reply: Reply, *, path: str) -> bool:
        with self.lock:
            result = self.steps[name]
            result.requests += 1
            result.statuses[reply.status] += 1
            if reply.status:
                result.latencies_ms.append(reply.ms)
            if reply.ok:
                return True
            result.errors[f"http_{reply.status}" if reply.status else "connection"] += 1
            failure = {"step": name, "path": path, "status": reply.status, "body": reply.text()}
            self.failures.append(failure)
        print(f"FAIL {name} {path}: {reply.status} {failure['body']}", flush=True)
        return False

    def one(self, client: Client, index: int) -> bool:
        """Submit one case and take it through every step; False at the first failure."""
        spec = submit_json(
            self.creds,
            description=f"流程基准 {self.run_id}-{index}：路边垃圾无人清理",
            key=f"wf-{self.run_id}-{index}",
        )
        reply = client.send(spec)
        if not self._record("submit", reply, path=spec[1]) or reply.status != 201:
            return False
        number = str(reply.json()["number"])
        for step in LOOP:
            spec = step.request(number, self.tokens[step.role], self.photo)
            if not self._record(step.name, client.send(spec), path=spec[1]):
                return False
        return True

    def run(self, *, cases: int, seconds: float, concurrency: int) -> float:
        """Up to ``cases`` loops from ``concurrency`` threads for at most ``seconds``; returns
        the wall time."""
        numbers = iter(range(cases))
        deadline = time.perf_counter() + seconds

        def worker() -> None:
            client = Client(HOST, self.port)
            try:
                while time.perf_counter() < deadline:
                    with self.lock:
                        index = next(numbers, None)
                    if index is None:
                        return
                    ok = self.one(client, index)
                    with self.lock:
                        if ok:
                            self.done += 1
                        else:
                            self.failed += 1
            finally:
                client.close()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started


def run_db(
    db: str, args: argparse.Namespace, *, results: Path = RESULTS, var: Path = VAR
) -> dict[str, Any]:
    url = with_sqlite_options(args.database_url or database_url(db, args.db_cases, var))
    started = time.perf_counter()
    creds = prepare(url, args.db_cases, args.demo_cases, var)
    prepare_s = time.perf_counter() - started
    results.mkdir(parents=True, exist_ok=True)
    server = Server(url, workers=args.workers, log=results / f"gunicorn_workflow_{db}.log", var=var)
    try:
        warm = Loops(server.port, creds)
        warm.run(cases=args.warmup, seconds=60, concurrency=max(1, min(args.warmup, 2)))
        loops = Loops(server.port, creds)
        wall = loops.run(cases=args.cases, seconds=args.seconds, concurrency=args.concurrency)
        rss = server.worker_rss_mb()
    finally:
        server.stop()
    rate = loops.done / wall if wall else 0.0
    # A failure while warming up counts too: the run must have no failed request at all.
    errors = sum(sum(r.errors.values()) for r in (*loops.steps.values(), *warm.steps.values()))
    steps = {
        name: {
            "requests": r.requests,
            "p50_ms": round(r.percentile(50), 1),
            "p99_ms": round(r.percentile(99), 1),
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            "errors": dict(r.errors),
        }
        for name, r in loops.steps.items()
    }
    row = {
        "benchmark": f"workflow_loop ({db})",
        "figure": round(rate, 2),
        "unit": "cases/s",
        "limit": "—",
        "ratio": "—",
        "target": "—",
        "pass": loops.done > 0 and errors == 0 and loops.failed == 0 and warm.failed == 0,
    }
    out = {
        "db": db,
        "cases_requested": args.cases,
        "cases_done": loops.done,
        "cases_failed": loops.failed,
        "errors": errors,
        "seconds": round(wall, 2),
        "cases_per_s": round(rate, 2),
        "requests_per_case": len(STEP_NAMES),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "db_cases": creds["cases"],
        "prepare_s": round(prepare_s, 1),
        "steps": steps,
        "failures": (warm.failures + loops.failures)[:50],
        "worker_rss_mb": [round(x, 1) for x in rss],
        "rows": [row],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (results / f"workflow_{db}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return out


def print_result(out: dict[str, Any]) -> None:
    db = out["db"]
    print(
        f"workflow ({db}): {out['cases_done']} cases closed and rated in {out['seconds']} s "
        f"= {out['cases_per_s']} cases/s ({out['requests_per_case']} requests each, "
        f"{out['concurrency']} concurrent loops, {out['workers']} workers, "
        f"{out['db_cases']} cases in the database)"
    )
    print(f"  failed loops: {out['cases_failed']}, failed requests: {out['errors']}")
    print(f"  {'step':<12} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for name, step in out["steps"].items():
        statuses = " ".join(f"{k}×{v}" for k, v in step["statuses"].items())
        print(
            f"  {name:<12} {step['requests']:>8} {step['p50_ms']:>8} {step['p99_ms']:>8}  "
            f"{statuses}"
        )
    counts: Counter[int] = Counter()
    for failure in out["failures"]:
        counts[failure["status"]] += 1
    if counts:
        print(f"  failures by status: {dict(counts)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--cases", type=int, default=200, help="case loops to drive")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--concurrency", type=int, default=8, help="loops at the same time")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="loops before measuring")
    parser.add_argument(
        "--db-cases", type=int, default=100_000, help="bulk cases in the prepared database"
    )
    parser.add_argument("--demo-cases", type=int, default=300)
    parser.add_argument("--var", type=Path, default=VAR, help="SQLite files and media")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--database-url", help="use this database instead of the one named by --db-cases"
    )
    args = parser.parse_args(argv)
    if (
        args.cases < 1
        or args.seconds <= 0
        or args.concurrency < 1
        or args.workers < 1
        or args.warmup < 0
        or args.db_cases < 0
        or args.demo_cases < 1
    ):
        parser.error(
            "--cases ≥ 1, --seconds > 0, --concurrency ≥ 1, --workers ≥ 1, --warmup ≥ 0, "
            "--db-cases ≥ 0, --demo-cases ≥ 1"
        )
    if args.database_url and len(args.db or []) != 1:
        parser.error("--database-url needs exactly one --db naming its engine")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    worst = 0
    for db in args.db or ["sqlite", "postgres"]:
        out = run_db(db, args, results=args.results, var=args.var)
        print_result(out)
        if not out["rows"][0]["pass"]:
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
