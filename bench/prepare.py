"""Prepare a benchmark database: migrate, the demo community, bulk cases, credentials.

    DATABASE_URL=… python -m bench.prepare --cases 100000

Idempotent: a database that already holds the demo and enough cases is only topped up with
credentials. Prints one JSON object: the Open311 key, a staff session cookie for the queue page
and API tokens per demo role, for the load runner.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000, help="bulk cases on top of the demo")
    parser.add_argument("--demo-cases", type=int, default=300)
    args = parser.parse_args(argv)
    if args.cases < 0 or args.demo_cases < 1:
        parser.error("--cases must be ≥ 0 and --demo-cases ≥ 1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from bench.dataset import bulk_cases
    from civicgrid.accounts.models import ClientKey, Organization, OrganizationKind, User
    from civicgrid.accounts.services import api_token_issue, client_key_issue, token_hash
    from civicgrid.cases.models import Case
    from civicgrid.demo.generator import demo_present, load_demo
    from civicgrid.geo.models import GridCell

    timings: dict[str, float] = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = time.perf_counter() - started
    if not demo_present():
        started = time.perf_counter()
        load_demo(case_count=args.demo_cases)
        timings["demo_s"] = time.perf_counter() - started
    missing = args.cases - (Case.objects.count() - args.demo_cases)
    if missing > 0:
        started = time.perf_counter()
        bulk_cases(count=missing)
        timings["bulk_s"] = time.perf_counter() - started
        # Planner statistics, as a database that has been running has them (autovacuum on
        # PostgreSQL): without them a fresh bulk load gets plans no deployment would see.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    raw_key = "bench-open311-key-loopback-only"  # benchmark databases only
    if not ClientKey.objects.filter(key_hash=token_hash(raw_key)).exists():
        org, _ = Organization.objects.get_or_create(
            code="bench-client",
            defaults={"kind": OrganizationKind.CLIENT, "name": "Benchmark client"},
        )
        client_key_issue(
            actor=None, organization=org, name="bench", rate_per_minute=100_000, raw_key=raw_key
        )
    tokens = {}
    for username in (
        "operator",
        "leader",
        "dispatcher",
        "handler",
        "gridworker",
        "admin",
        "resident",  # reports and rates in bench.workflow_bench and bench.load_proof
    ):
        user = User.objects.get(username=username)
        _token, raw = api_token_issue(actor=None, user=user, name="bench")
        tokens[username] = raw
    operator = User.objects.get(username="operator")
    session = SessionStore()
    session[SESSION_KEY] = str(operator.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = operator.get_session_auth_hash()
    session.create()
    cell = GridCell.objects.order_by("code").first()
    ring = cell.geometry["coordinates"][0] if cell else [[0, 0]]
    point = {
        "lat": round(sum(p[1] for p in ring[:-1]) / max(1, len(ring) - 1), 6),
        "lng": round(sum(p[0] for p in ring[:-1]) / max(1, len(ring) - 1), 6),
    }
    json.dump(
        {
            "open311_key": raw_key,
            "service_code": "E0102",
            "point": point,
            "session": session.session_key,
            "tokens": tokens,
            "cases": Case.objects.count(),
            "timings": {k: round(v, 1) for k, v in timings.items()},
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
