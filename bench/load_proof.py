"""Load proof: many clients at once, a mixed workload, then every acknowledged write is counted
in the database.

    .venv/bin/python -m bench.load_proof --db sqlite --clients 100 --seconds 60

Prepares the database like ``bench.http_bench`` (the demo world + ``--db-cases`` bulk cases,
API tokens, the benchmark's Open311 key) and starts gunicorn with 2 workers of the ``gthread``
class (``--threads`` each; more clients than threads wait on their kept-alive connections, none
is refused). SQLite runs with the product's options (WAL, 20 s busy timeout, BEGIN IMMEDIATE;
see ``bench.case_loop.SQLITE_QUERY``), checked before the run. Then ``--clients`` threads, each
with its own connection, send for ``--seconds``:

- public reads: Open311 ``GET /open311/v2/requests.json``, ``GET /api/v1/public/cases`` and the
  staff queue ``GET /api/v1/cases/queue`` (operator, dispatcher or unit handler token);
- reports: Open311 ``POST requests.json`` with the ``api_key`` and JSON ``POST /api/v1/cases``
  with an ``Idempotency-Key``, some of them repeated with the same key (must answer 200 with the
  same case and create nothing);
- workflow steps on the cases this run reported, always the oldest open ones, so clients race
  for the same step: one wins, the others get ``409 cases.wrong_state``, which is expected.

Afterwards it counts, for the cases of this run (their descriptions carry the run's tag): cases
in the database == acknowledged submissions (the same numbers), and trace rows per case == 1 +
its acknowledged steps (+1 when ``process`` ran on a dispatched case, which also writes the
``start`` row). Violations: any 5xx (printed with its body), a connection error, an answer a
client should never get (e.g. 400/403/404), an idempotent repeat answered with another case, a
lost or unexpected row. It prints requests by kind, statuses, p50/p99 and writes acknowledged
vs found, writes ``bench/results/proofs/load_proof_<db>.json`` and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.case_loop import (
    API,
    PROCESS_FROM_DISPATCHED,
    STEP_AFTER,
    Client,
    Reply,
    png_bytes,
    status_rank,
    submit_json,
    submit_open311,
    with_sqlite_options,
)
from bench.http_bench import HOST, RESULTS, VAR, Server, database_url, prepare
from bench.loadgen import LoadResult, RequestSpec

# The share of each kind of request (the rest are workflow steps).
MIX = (
    ("o311_get", 0.12),
    ("public_cases", 0.12),
    ("staff_queue", 0.10),
    ("o311_post", 0.10),
    ("api_submit", 0.10),
    ("api_resubmit", 0.03),
)
# Steps go to the oldest open cases of the run, so that clients race for them.
HOT_CASES = 25
# What each kind may answer; anything else is a violation. 409: a racing step lost.
EXPECTED = {
    "o311_get": {200},
    "public_cases": {200},
    "staff_queue": {200},
    "o311_post": {200, 201},
    "api_submit": {201},
    "api_resubmit": {200},
}
STEP_EXPECTED = {200, 409}


@dataclass
class Tracked:
    """A case this run reported, as the clients know it."""

    number: str
    origin: str  # "api" (the demo resident) or "open311"
    status: str = "reported"
    acked: Counter[str] = field(default_factory=Counter)  # trace action → acknowledged steps


class Proof:
    def __init__(self, port: int, creds: dict[str, Any], *, seed: int = 311) -> None:
        self.port = port
        self.creds = creds
        self.tokens = creds["tokens"]
        self.tag = f"lp{uuid.uuid4().hex[:10]}"
        self.photo = png_bytes()
        self.seed = seed
        self.lock = threading.Lock()
        self.counter = 0
        self.stats: dict[str, LoadResult] = {}
        self.violations: list[dict[str, Any]] = []
        self.cases: dict[str, Tracked] = {}
        self.open: list[str] = []  # oldest first
        self.keys: list[tuple[str, str, str]] = []  # (idempotency key, description, number)
        self.api_created = 0
        self.o311_acked = 0
        self.repeats_ok = 0

    # ------------------------------------------------------------------ bookkeeping

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _record(self, kind: str, spec: RequestSpec, reply: Reply, expected: set[int]) -> bool:
        """Count the answer; a violation is printed at once. True for a 2xx."""
        with self.lock:
            result = self.stats.setdefault(kind, LoadResult(name=kind, requests=0, seconds=0.0))
            result.requests += 1
            result.statuses[reply.status] += 1
            if reply.status:
                result.latencies_ms.append(reply.ms)
            if reply.status in expected:
                return reply.ok
            what = "connection error" if reply.status == 0 else f"HTTP {reply.status}"
            violation = {
                "kind": kind,
                "what": what,
                "request": f"{spec[0]} {spec[1]}",
                "status": reply.status,
                "body": reply.text(2000),
            }
            self.violations.append(violation)
        print(f"VIOLATION {kind}: {what} for {spec[0]} {spec[1]}\n  {reply.text(2000)}", flush=True)
        return reply.ok

    def _violation(self, kind: str, what: str, **detail: Any) -> None:
        with self.lock:
            self.violations.append({"kind": kind, "what": what, **detail})
        print(f"VIOLATION {kind}: {what} {detail}", flush=True)

    def _track(self, number: str, origin: str) -> None:
        with self.lock:
            if number in self.cases:
                duplicate = True
            else:
                duplicate = False
                self.cases[number] = Tracked(number=number, origin=origin)
                self.open.append(number)
        if duplicate:
            self._violation(origin, "a new submission answered with a known case", number=number)

    # ------------------------------------------------------------------ requests

    def read(self, client: Client, kind: str, rng: random.Random) -> None:
        if kind == "o311_get":
            spec: RequestSpec = ("GET", "/open311/v2/requests.json", None, {})
        elif kind == "public_cases":
            spec = ("GET", f"{API}/public/cases?page_size=20&page={rng.randint(1, 5)}", None, {})
        else:
            role = rng.choice(("operator", "dispatcher", "handler"))
            headers = {"Authorization": f"Bearer {self.tokens[role]}"}
            spec = ("GET", f"{API}/cases/queue?page_size=20", None, headers)
        self._record(kind, spec, client.send(spec), EXPECTED[kind])

    def o311_post(self, client: Client) -> None:
        n = self._next()
        spec = submit_open311(
            self.creds, description=f"负载证明 {self.tag} o311-{n}", key=f"{self.tag}-o{n}"
        )
        reply = client.send(spec)
        if self._record("o311_post", spec, reply, EXPECTED["o311_post"]):
            number = str(reply.json()[0]["service_request_id"])
            with self.lock:
                self.o311_acked += 1
            self._track(number, "open311")

    def api_submit(self, client: Client) -> None:
        n = self._next()
        key, description = f"{self.tag}-a{n}", f"负载证明 {self.tag} api-{n}"
        spec = submit_json(self.creds, description=description, key=key)
        reply = client.send(spec)
        if self._record("api_submit", spec, reply, EXPECTED["api_submit"]):
            number = str(reply.json()["number"])
            with self.lock:
                self.api_created += 1
                self.keys.append((key, description, number))
            self._track(number, "api")

    def api_resubmit(self, client: Client, rng: random.Random) -> None:
        with self.lock:
            chosen = rng.choice(self.keys) if self.keys else None
        if chosen is None:
            self.api_submit(client)
            return
        key, description, number = chosen
        spec = submit_json(self.creds, description=description, key=key)
        reply = client.send(spec)
        if self._record("api_resubmit", spec, reply, EXPECTED["api_resubmit"]):
            answered = str(reply.json()["number"])
            if answered != number:
                self._violation(
                    "api_resubmit", "a repeated key answered with another case", key=key,
                    expected=number, answered=answered,
                )  # fmt: skip
            else:
                with self.lock:
                    self.repeats_ok += 1

    def step(self, client: Client, rng: random.Random) -> None:
        with self.lock:
            hot = self.open[:HOT_CASES]
            tracked = self.cases[rng.choice(hot)] if hot else None
            status = tracked.status if tracked is not None else ""
        step = STEP_AFTER.get(status)
        if tracked is None or step is None:
            self.api_submit(client)
            return
        if status == "dispatched" and rng.random() < 0.3:
            step = PROCESS_FROM_DISPATCHED  # writes the start row itself
        role = step.role
        if role == "reporter":
            role = "resident" if tracked.origin == "api" else "operator"  # a call-back
        spec = step.request(tracked.number, self.tokens[role], self.photo)
        reply = client.send(spec)
        if not self._record(f"step_{step.name}", spec, reply, STEP_EXPECTED):
            return
        after = str(reply.json()["status"])
        with self.lock:
            tracked.acked[step.name] += 1
            if status_rank(after) > status_rank(tracked.status):
                tracked.status = after
            if tracked.status == "evaluated" and tracked.number in self.open:
                self.open.remove(tracked.number)

    # ------------------------------------------------------------------ the run

    def run(self, *, clients: int, seconds: float) -> float:
        deadline = time.perf_counter() + seconds
        kinds = [k for k, _share in MIX]
        cumulative = []
        total = 0.0
        for _kind, share in MIX:
            total += share
            cumulative.append(total)

        def worker(index: int) -> None:
            rng = random.Random(self.seed * 1000 + index)
            client = Client(HOST, self.port)
            try:
                while time.perf_counter() < deadline:
                    roll = rng.random()
                    kind = next((k for k, c in zip(kinds, cumulative, strict=True) if roll < c), "")
                    if kind in ("o311_get", "public_cases", "staff_queue"):
                        self.read(client, kind, rng)
                    elif kind == "o311_post":
                        self.o311_post(client)
                    elif kind == "api_submit":
                        self.api_submit(client)
                    elif kind == "api_resubmit":
                        self.api_resubmit(client, rng)
                    else:
                        self.step(client, rng)
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    def expected_traces(self) -> dict[str, int]:
        """Trace rows each acknowledged case must have: the submission, every acknowledged
        step, and the ``start`` row of a ``process`` taken on a dispatched case."""
        out = {}
        for number, tracked in self.cases.items():
            implied = 1 if tracked.acked["process"] and not tracked.acked["start"] else 0
            out[number] = 1 + sum(tracked.acked.values()) + implied
        return out


# --------------------------------------------------------------------------- the database


def setup_django(url: str, var: Path) -> None:
    """Django in this process, on the database the server uses, to count rows."""
    os.environ.update(
        {
            "DATABASE_URL": url,
            "CIVICGRID_VAR_DIR": str(var),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_DEBUG": "false",
        }
    )
    import django

    django.setup()


def sqlite_check() -> dict[str, Any]:
    """The SQLite options as Django opens the database: WAL, busy timeout, BEGIN IMMEDIATE."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = str(cursor.fetchone()[0])
        cursor.execute("PRAGMA busy_timeout")
        busy_ms = int(cursor.fetchone()[0])
    mode = connection.settings_dict.get("OPTIONS", {}).get("transaction_mode")
    connection.close()
    return {"journal_mode": journal, "busy_timeout_ms": busy_ms, "transaction_mode": mode}


def totals() -> dict[str, int]:
    from civicgrid.cases.models import Case, Trace

    return {"cases": Case.objects.count(), "traces": Trace.objects.count()}


def found_rows(tag: str) -> tuple[set[str], dict[str, Counter[str]]]:
    """The cases of this run and their trace rows by action."""
    from django.db import connection

    from civicgrid.cases.models import Case, Trace

    numbers = set(Case.objects.filter(description__contains=tag).values_list("number", flat=True))
    traces: dict[str, Counter[str]] = {}
    rows = Trace.objects.filter(case__description__contains=tag).values_list(
        "case__number", "action"
    )
    for number, action in rows:
        traces.setdefault(number, Counter())[action] += 1
    connection.close()
    return numbers, traces


def verify(proof: Proof) -> dict[str, Any]:
    """Compare what clients were told with what the database holds; adds violations."""
    numbers, traces = found_rows(proof.tag)
    acked = set(proof.cases)
    expected = proof.expected_traces()
    lost = sorted(acked - numbers)
    phantom = sorted(numbers - acked)
    if lost:
        proof._violation("cases", "acknowledged cases missing in the database", numbers=lost[:20])
    if phantom:
        proof._violation(
            "cases", "cases in the database that no client was told of", numbers=phantom[:20]
        )
    mismatched = []
    for number in sorted(acked | numbers):
        found = sum(traces.get(number, Counter()).values())
        want = expected.get(number, 0)
        if found != want:
            tracked = proof.cases.get(number)
            mismatched.append(
                {
                    "number": number,
                    "expected": want,
                    "found": found,
                    "acked_steps": dict(tracked.acked) if tracked else {},
                    "found_actions": dict(traces.get(number, Counter())),
                }
            )
    if mismatched:
        proof._violation(
            "traces", "trace rows differ from acknowledged steps", cases=mismatched[:10]
        )
    steps_acked = sum(sum(t.acked.values()) for t in proof.cases.values())
    return {
        "submissions_acked": len(acked),
        "api_created_201": proof.api_created,
        "open311_acked": proof.o311_acked,
        "idempotent_repeats_ok": proof.repeats_ok,
        "cases_found": len(numbers),
        "lost_cases": lost,
        "phantom_cases": phantom,
        "steps_acked": steps_acked,
        "traces_expected": sum(expected.values()),
        "traces_found": sum(sum(c.values()) for c in traces.values()),
        "trace_mismatches": mismatched[:50],
        "cases_evaluated": sum(1 for t in proof.cases.values() if t.status == "evaluated"),
    }


def worker_threads(server: Server) -> list[int]:
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    counts = []
    for pid in children.read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                counts.append(int(line.split()[1]))
    return counts


# --------------------------------------------------------------------------- main


def run_db(db: str, args: argparse.Namespace) -> dict[str, Any]:
    var: Path = args.var
    url = with_sqlite_options(args.database_url or database_url(db, args.db_cases, var))
    started = time.perf_counter()
    creds = prepare(url, args.db_cases, args.demo_cases, var)
    prepare_s = time.perf_counter() - started
    setup_django(url, var)
    config_violations = []
    sqlite = sqlite_check()
    if sqlite and (
        sqlite["journal_mode"] != "wal"
        or sqlite["busy_timeout_ms"] < 1000
        or sqlite["transaction_mode"] != "IMMEDIATE"
    ):
        config_violations.append({"kind": "sqlite", "what": "not WAL + busy timeout", **sqlite})
    before = totals()
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    # gunicorn reads extra options from GUNICORN_CMD_ARGS; Server passes the environment on.
    os.environ["GUNICORN_CMD_ARGS"] = f"--worker-class gthread --threads {args.threads}"
    try:
        server = Server(url, workers=args.workers, log=results / f"gunicorn_load_{db}.log", var=var)
    finally:
        del os.environ["GUNICORN_CMD_ARGS"]
    proof = Proof(server.port, creds)
    proof.violations.extend(config_violations)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        wall = proof.run(clients=args.clients, seconds=args.seconds)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu_s = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
        threads = worker_threads(server)
    finally:
        server.stop()
    after = totals()
    writes = verify(proof)
    everything = LoadResult(name="all", requests=0, seconds=wall)
    kinds = {}
    for kind, result in sorted(proof.stats.items()):
        result.seconds = wall
        everything.latencies_ms.extend(result.latencies_ms)
        everything.statuses.update(result.statuses)
        everything.requests += result.requests
        kinds[kind] = {
            "requests": result.requests,
            "p50_ms": round(result.percentile(50), 1),
            "p99_ms": round(result.percentile(99), 1),
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        }
    out = {
        "db": db,
        "tag": proof.tag,
        "clients": args.clients,
        "seconds": round(wall, 2),
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "worker_os_threads": threads,
        "client_cpu_s": round(client_cpu_s, 1),
        "sqlite": sqlite,
        "db_cases_before": before["cases"],
        "prepare_s": round(prepare_s, 1),
        "requests": everything.requests,
        "throughput_rps": round(everything.requests / wall, 1) if wall else 0.0,
        "p50_ms": round(everything.percentile(50), 1),
        "p99_ms": round(everything.percentile(99), 1),
        "statuses": {str(k): v for k, v in sorted(everything.statuses.items())},
        "kinds": kinds,
        "writes": writes,
        "database_delta": {k: after[k] - before[k] for k in after},
        "violations": proof.violations,
        "pass": not proof.violations,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (results / f"load_proof_{db}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return out


def print_result(out: dict[str, Any]) -> None:
    db, w = out["db"], out["writes"]
    print(
        f"load proof ({db}): {out['clients']} clients × {out['seconds']} s, "
        f"{out['workers']} gthread workers × {out['threads_per_worker']} threads "
        f"(OS threads {out['worker_os_threads']}), {out['db_cases_before']} cases before"
    )
    if out["sqlite"]:
        s = out["sqlite"]
        print(
            f"  sqlite: journal_mode={s['journal_mode']} busy_timeout={s['busy_timeout_ms']} ms "
            f"transaction_mode={s['transaction_mode']}"
        )
    print(
        f"  requests: {out['requests']} ({out['throughput_rps']} req/s), "
        f"p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms; the clients used "
        f"{out['client_cpu_s']} s of CPU"
    )
    statuses = " ".join(f"{k}×{v}" for k, v in out["statuses"].items())
    print(f"  statuses: {statuses}")
    print(f"  {'kind':<18} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for kind, k in out["kinds"].items():
        statuses = " ".join(f"{s}×{n}" for s, n in k["statuses"].items())
        print(f"  {kind:<18} {k['requests']:>8} {k['p50_ms']:>8} {k['p99_ms']:>8}  {statuses}")
    print(
        f"  submissions acknowledged {w['submissions_acked']} (API 201: {w['api_created_201']}, "
        f"Open311: {w['open311_acked']}; idempotent repeats answered with the same case: "
        f"{w['idempotent_repeats_ok']}) / cases found {w['cases_found']}"
    )
    print(
        f"  steps acknowledged {w['steps_acked']} → trace rows expected "
        f"{w['traces_expected']} / found {w['traces_found']}; "
        f"cases taken to evaluated: {w['cases_evaluated']}"
    )
    delta = out["database_delta"]
    print(f"  database delta (all writers): cases +{delta['cases']}, traces +{delta['traces']}")
    if out["violations"]:
        print(f"  VIOLATIONS: {len(out['violations'])}")
        for v in out["violations"][:30]:
            print(f"    {json.dumps(v, ensure_ascii=False)[:2000]}")
    else:
        print("  no 5xx, no lost write, no unexpected row: PASS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=8, help="gthread threads per worker (docs/operations.md: 8)"
    )
    parser.add_argument("--db-cases", type=int, default=5000, help="bulk cases beside the demo")
    parser.add_argument("--demo-cases", type=int, default=300)
    parser.add_argument("--var", type=Path, default=VAR / "load_proof", help="SQLite and media")
    parser.add_argument("--results", type=Path, default=RESULTS / "proofs")
    parser.add_argument("--database-url", help="use this database instead of a prepared one")
    args = parser.parse_args(argv)
    if (
        args.clients < 1
        or args.seconds <= 0
        or args.workers < 1
        or args.threads < 1
        or args.db_cases < 0
        or args.demo_cases < 1
    ):
        parser.error(
            "--clients ≥ 1, --seconds > 0, --workers ≥ 1, --threads ≥ 1, --db-cases ≥ 0, "
            "--demo-cases ≥ 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = run_db(args.db, args)
    print_result(out)
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
