"""HTTP benchmarks of the case loop against a bare Django view, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.http_bench --db sqlite --db postgres --cases 100000

For each database: prepare it (``bench.prepare``: demo community + bulk cases, cached between
runs), start gunicorn with 2 workers on loopback, warm up, then run each scenario with a
bounded load (``--clients`` threads, at most ``--requests`` requests and ``--seconds``
seconds). The limit of every ratio is ``/bench/bare/`` — a Django JSON view behind the same
middleware, served by the same gunicorn — measured before and after the scenarios in the same
run (the mean of the two). Results: ``bench/results/http_<db>.json``; ``bench.report`` merges
every result into ``latest.json`` and ``latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, RequestSpec, run_load

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VAR = ROOT / "var" / "bench"
HOST = "127.0.0.1"
PG_BASE = os.environ.get("CIVICGRID_BENCH_PG", "postgres://postgres@127.0.0.1:5432")

TARGETS = {
    "open311_post_requests": 0.50,
    "open311_get_requests": 0.40,
    "api_public_cases": 0.40,
    "queue_page": 0.40,
}
P99_OVER_P50_MAX = 5.0
RSS_MAX_MB = 150.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def database_url(db: str, cases: int, var: Path = VAR) -> str:
    if db == "sqlite":
        var.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{var / f'bench-{cases}.sqlite3'}"
    name = f"civicgrid_bench_{cases}"
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_BASE}/{name}"


def _env(url: str, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CIVICGRID_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "false",
        "PYTHONPATH": str(ROOT),
    }


def prepare(url: str, cases: int, demo_cases: int, var: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.prepare",
            "--cases",
            str(cases),
            "--demo-cases",
            str(demo_cases),
        ],
        env=_env(url, var),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.prepare failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Server:
    """gunicorn with ``workers`` sync workers on a free loopback port."""

    def __init__(self, url: str, *, workers: int, log: Path, var: Path) -> None:
        self.port = _free_port()
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "civicgrid.config.wsgi:application",
                "--workers",
                str(workers),
                "--bind",
                f"{HOST}:{self.port}",
                "--log-level",
                "warning",
                "--timeout",
                "120",
            ],
            env={**_env(url, var), "CIVICGRID_LOG_LEVEL": "WARNING"},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited; see its log in bench/results/")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"GET /bench/bare/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    if b" 200 " in sock.recv(64):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_rss_mb(self) -> list[float]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        sizes = []
        for pid in children.read_text().split():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def scenarios(creds: dict[str, Any]) -> dict[str, Any]:
    """name → request factory."""
    key = creds["open311_key"]
    point = creds.get("point") or {}
    cookie = {"Cookie": f"sessionid={creds['session']}"}
    run_id = uuid.uuid4().hex[:8]

    def bare(n: int) -> RequestSpec:
        return ("GET", "/bench/bare/", None, {})

    def o311_post(n: int) -> RequestSpec:
        body = urllib.parse.urlencode(
            {
                "api_key": key,
                "service_code": creds.get("service_code", "E0102"),
                "lat": point.get("lat", ""),
                "long": point.get("lng", ""),
                "description": f"基准测试上报 {run_id}-{n}：路边垃圾无人清理",
            }
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return ("POST", "/open311/v2/requests.json", body, headers)

    def o311_get(n: int) -> RequestSpec:
        return ("GET", "/open311/v2/requests.json", None, {})

    def public_cases(n: int) -> RequestSpec:
        return ("GET", "/api/v1/public/cases?page_size=100", None, {})

    def queue_page(n: int) -> RequestSpec:
        return ("GET", "/queue/", None, cookie)

    return {
        "bare": bare,
        "open311_post_requests": o311_post,
        "open311_get_requests": o311_get,
        "api_public_cases": public_cases,
        "queue_page": queue_page,
    }


def run_db(
    db: str, args: argparse.Namespace, *, results: Path = RESULTS, var: Path = VAR
) -> dict[str, Any]:
    url = database_url(db, args.cases, var)
    started = time.perf_counter()
    creds = prepare(url, args.cases, args.demo_cases, var)
    prepare_s = time.perf_counter() - started
    results.mkdir(parents=True, exist_ok=True)
    server = Server(url, workers=args.workers, log=results / f"gunicorn_{db}.log", var=var)
    try:
        factories = scenarios(creds)

        def load(name: str, *, warm: bool = False) -> LoadResult:
            return run_load(
                name=name,
                host=HOST,
                port=server.port,
                make_request=factories[name],
                clients=args.clients,
                max_requests=50 if warm else args.requests,
                max_seconds=5 if warm else args.seconds,
            )

        for name in factories:
            load(name, warm=True)
        rss = server.worker_rss_mb()
        measured: dict[str, LoadResult] = {}
        bare_before = load("bare")
        for name in factories:
            if name != "bare":
                measured[name] = load(name)
        bare_after = load("bare")
    finally:
        server.stop()
    limit = (bare_before.throughput + bare_after.throughput) / 2
    rows = []
    for name, result in measured.items():
        ratio = result.throughput / limit if limit else 0.0
        target = TARGETS[name]
        row: dict[str, Any] = {
            "benchmark": f"{name} ({db})",
            "figure": round(result.throughput, 1),
            "unit": "req/s",
            "limit": round(limit, 1),
            "ratio": round(ratio, 3),
            "target": f">= {target}",
            "pass": result.requests > 0 and ratio >= target and not result.errors,
            "detail": result.as_dict(),
        }
        if name == "open311_post_requests":
            p50, p99 = result.percentile(50), result.percentile(99)
            tail = p99 / p50 if p50 else 0.0
            rows.append(
                {
                    "benchmark": f"open311_post_p99_over_p50 ({db})",
                    "figure": round(tail, 2),
                    "unit": "p99/p50",
                    "limit": P99_OVER_P50_MAX,
                    "ratio": round(tail / P99_OVER_P50_MAX, 3),
                    "target": f"<= {P99_OVER_P50_MAX}",
                    "pass": result.requests > 0 and 0 < tail <= P99_OVER_P50_MAX,
                }
            )
        rows.append(row)
    worst = max(rss) if rss else 0.0
    rows.append(
        {
            "benchmark": f"worker_rss_after_warmup ({db})",
            "figure": round(worst, 1),
            "unit": "MB",
            "limit": RSS_MAX_MB,
            "ratio": round(worst / RSS_MAX_MB, 3),
            "target": f"<= {RSS_MAX_MB} MB",
            "pass": 0 < worst <= RSS_MAX_MB,
        }
    )
    out = {
        "db": db,
        "cases": creds["cases"],
        "prepare_s": round(prepare_s, 1),
        "prepare": creds.get("timings", {}),
        "clients": args.clients,
        "workers": args.workers,
        "seconds_per_scenario": args.seconds,
        "max_requests": args.requests,
        "bare": {"before": bare_before.as_dict(), "after": bare_after.as_dict()},
        "rows": rows,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (results / f"http_{db}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--demo-cases", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--profile-requests",
        type=int,
        default=200,
        help="requests per profile of a scenario below target (0: no profiles)",
    )
    args = parser.parse_args(argv)
    if (
        args.cases < 0
        or args.demo_cases < 1
        or args.seconds <= 0
        or args.requests < 1
        or args.clients < 1
        or args.profile_requests < 0
    ):
        parser.error("--cases ≥ 0, --demo-cases ≥ 1, --seconds > 0, --requests ≥ 1, --clients ≥ 1")
    return args


def profile_misses(
    db: str,
    args: argparse.Namespace,
    result: dict[str, Any],
    *,
    results: Path = RESULTS,
    var: Path = VAR,
) -> None:
    """For every scenario below its target, a pyinstrument profile next to the results
    (``bench.profile_views``: the same requests in-process), with the read cache on as measured
    and, for the cached reads, off too (what a cache miss costs). The paths go into the row."""
    for row in result["rows"]:
        name = row["benchmark"].split(" (")[0]
        if row["pass"] or name not in TARGETS:
            continue
        row["profiles"] = []
        for cache in (True, False):
            command = [
                sys.executable,
                "-m",
                "bench.profile_views",
                "--db",
                db,
                "--cases",
                str(args.cases),
                "--demo-cases",
                str(args.demo_cases),
                "--scenario",
                name,
                "--requests",
                str(args.profile_requests),
                "--var",
                str(var),
                "--results",
                str(results),
            ]
            if not cache:
                command.append("--no-cache")
            out = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800
            )
            lines = out.stdout.strip().splitlines()
            if out.returncode == 0 and lines:
                row["profiles"].append({"path": lines[0], "summary": lines[-1]})
            else:
                row["profiles"].append({"error": (out.stderr or out.stdout)[-500:]})
    (results / f"http_{db}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for db in args.db or ["sqlite", "postgres"]:
        result = run_db(db, args)
        if args.profile_requests:
            profile_misses(db, args, result)
        for row in result["rows"]:
            mark = "PASS" if row["pass"] else "MISS"
            print(
                f"{mark} {row['benchmark']}: {row['figure']} {row['unit']} "
                f"(limit {row['limit']}, ratio {row['ratio']}, target {row['target']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
