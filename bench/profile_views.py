"""Profile one HTTP benchmark scenario in-process with pyinstrument.

    .venv/bin/python -m bench.profile_views --db sqlite --cases 100000 \\
        --scenario open311_get_requests --requests 300 [--no-cache]

The same requests as ``bench.http_bench`` sends (its scenario factories), on the same prepared
database, through Django's full WSGI handler and middleware (the test client, no sockets), so
the profile shows where a request's time goes inside Django. ``--no-cache`` turns the public
read cache off, to profile the work a cache miss does. Writes
``bench/results/profile_<scenario>_<db>[_nocache].txt`` and ``.html`` and prints the text path.
``bench.http_bench`` runs this for every scenario below its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.http_bench import RESULTS, VAR, _env, database_url, prepare, scenarios


def profile_path(results: Path, scenario: str, db: str, *, cache: bool) -> Path:
    return results / f"profile_{scenario}_{db}{'' if cache else '_nocache'}.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--demo-cases", type=int, default=300)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-cache", action="store_true", help="read cache off")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--var", type=Path, default=VAR, help="SQLite files and media")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.cases < 0 or args.demo_cases < 1:
        parser.error("--requests ≥ 1, --cases ≥ 0, --demo-cases ≥ 1")

    url = database_url(args.db, args.cases, args.var)
    creds = prepare(url, args.cases, args.demo_cases, args.var)
    factories = scenarios(creds)
    if args.scenario not in factories:
        parser.error(f"--scenario must be one of {', '.join(sorted(factories))}")
    os.environ.update(_env(url, args.var))
    if args.no_cache:
        os.environ["CIVICGRID_PUBLIC_CACHE_SECONDS"] = "0"
    os.environ["CIVICGRID_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1")
    make = factories[args.scenario]

    def one(n: int) -> int:
        method, path, body, headers = make(n)
        content_type = headers.pop("Content-Type", "application/octet-stream")
        response = client.generic(
            method, path, data=body or b"", content_type=content_type, headers=headers
        )
        return response.status_code

    for n in range(min(20, args.requests)):  # warm-up: imports, caches, connections
        one(n)
    profiler = Profiler(interval=0.0005)
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    profiler.start()
    for n in range(args.requests):
        status = one(1000 + n)
        statuses[status] = statuses.get(status, 0) + 1
    profiler.stop()
    elapsed = time.perf_counter() - started
    args.results.mkdir(parents=True, exist_ok=True)
    text_path = profile_path(args.results, args.scenario, args.db, cache=not args.no_cache)
    header = (
        f"# {args.scenario} on {args.db}, {args.requests} requests in-process, "
        f"{elapsed / args.requests * 1000:.2f} ms each, statuses {statuses}, "
        f"read cache {'off' if args.no_cache else 'on'}\n"
    )
    text_path.write_text(header + profiler.output_text(unicode=True, color=False, show_all=False))
    text_path.with_suffix(".html").write_text(profiler.output_html())
    print(text_path)
    print(header.strip())
    bad = {s: n for s, n in statuses.items() if s >= 400}
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
