"""Proof: kill -9 the task worker at random points; after the restarts nothing is lost, doubled
or stuck.

    python -m bench.crash_proof --runs 5 --db sqlite
    python -m bench.crash_proof --runs 5 --db postgres --pg-url postgres://postgres@127.0.0.1:5432/

Prepares a fresh database (a temporary SQLite file in WAL mode, as the default settings make
it, or a PostgreSQL database ``crash_proof_<pid>`` dropped afterwards), builds the test world
(one community, 3×3 grid, units, two supervisors) and then, before each start of the real
worker (``manage.py worker``, a subprocess with the seal and escalation sweeps every second):

- inserts a batch of open cases: most of them overdue, the others with a deadline ahead, on
  hold, or already escalated for their current step (these three must not be escalated);
- moves some already escalated cases to a new overdue step (escalated once more, once);
- inserts unsealed audit rows, so sealing has work;
- enqueues escalate_overdue_task ×2, seal_audit_task ×2 and publish_audit_head_task.

Each of the ``--runs`` workers is killed with SIGKILL a random 0.05–2 s (seeded; the seed is
printed) after it reported itself started. A last worker is then left to finish and stopped
with SIGTERM. The checks, each a violation when it fails:

- every overdue step is escalated exactly once (one ``escalate`` trace row per case and step,
  one ``case.escalate`` audit row each, one notification per supervisor), and nothing else is;
- every task ended SUCCESSFUL: none left READY or RUNNING, none FAILED;
- every audit row is sealed, ``seal_seq`` runs 1..n without gap or duplicate, the chain head
  matches and ``audit_verify`` passes; the number of audit rows is the one expected.

Prints the figures (and writes them as JSON with ``--json``); exits 1 on any violation, 2 when
the proof could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = BASE_DIR / "manage.py"
CASE_SERIAL_START = 100_000  # case numbers far above anything the services would make today


@dataclass
class Figures:
    db: str
    runs: int
    seed: int
    cases_per_batch: int
    audit_rows_per_batch: int
    kills: list[dict[str, Any]] = field(default_factory=list)
    cases: int = 0
    expected_escalations: int = 0
    tasks_enqueued: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    tasks_rerun: int = 0
    recovery_log_lines: int = 0
    escalations: int = 0
    notifications: int = 0
    audit_rows: int = 0
    sealed_rows: int = 0
    chain_ok: bool = False
    prepare_seconds: float = 0.0
    drain_seconds: float = 0.0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the database


def _pg_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"--pg-url must be a postgres:// URL, not {server_url!r}")
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _pg_admin(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)  # a fixed statement with a name made of digits: crash_proof_<pid>


def _environment(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings.base",
            "CIVICGRID_VAR_DIR": str(workdir),
            "CIVICGRID_SEAL_INTERVAL_S": "1",
            "CIVICGRID_SWEEP_INTERVAL_S": "1",
            "CIVICGRID_LANGUAGE": "en",
            "CIVICGRID_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.lease is not None:
        env["CIVICGRID_TASK_LEASE_SECONDS"] = str(args.lease)
    if args.db == "postgres":
        env["DATABASE_URL"] = _pg_url(args.pg_url, args.pg_name)
    return env


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    supervisors: int
    cells: list[Any]
    category: Any
    unit: Any
    serial: int = CASE_SERIAL_START
    expected: set[tuple[int, dt.datetime]] = field(default_factory=set)  # (case, step start)
    not_escalated: set[int] = field(default_factory=set)  # cases that must never escalate
    fillers: int = 0


def build(rng: random.Random) -> World:
    from django.test.utils import override_settings

    from civicgrid.accounts.models import Role, User
    from civicgrid.cases.tests.factories import DISTRICT, build_world
    from civicgrid.geo.models import GridCell

    # Passwords do not matter here; the default hasher would spend seconds on them.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        world = build_world()
        User.objects.create_user(
            username="district_supervisor",
            password=f"proof-{rng.random()}",
            role=Role.SUPERVISOR,
            area_code=DISTRICT,
            display_name="district supervisor",
        )
    return World(
        supervisors=User.objects.filter(role=Role.SUPERVISOR, is_active=True).count(),
        cells=list(GridCell.objects.order_by("code")),
        category=world.categories["garbage"],
        unit=world.units["clean"],
    )


def _step_start(now: dt.datetime, rng: random.Random, hours: tuple[float, float]) -> dt.datetime:
    # Microseconds drawn too, so no two steps of a case start at the same instant.
    return now - dt.timedelta(hours=rng.uniform(*hours), microseconds=rng.randrange(1, 10**6))


def add_cases(world: World, rng: random.Random, count: int) -> None:
    """``count`` open cases: 75 % overdue, and 25 % that must not escalate (deadline ahead,
    on hold, or already escalated for their current step)."""
    from django.utils import timezone

    from civicgrid.cases.models import Case, Clock, Source, Status, Urgency

    now = timezone.now()
    statuses = (
        Status.REPORTED,
        Status.ACCEPTED,
        Status.FILED,
        Status.DISPATCHED,
        Status.PROCESSING,
    )
    rows: list[Case] = []
    kinds: list[str] = []
    for _n in range(count):
        roll = rng.random()
        kind = (
            "overdue"
            if roll < 0.75
            else "ahead"
            if roll < 0.85
            else "on_hold"
            if roll < 0.93
            else "escalated"
        )
        status = rng.choice(statuses)
        cell = rng.choice(world.cells)
        ring = cell.geometry["coordinates"][0]
        lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
        started = _step_start(now, rng, (1.0, 1.5) if kind == "ahead" else (2.0, 72.0))
        deadline = (
            now + dt.timedelta(days=2)
            if kind == "ahead"
            else started + dt.timedelta(minutes=rng.uniform(10, 60))
        )
        with_unit = status in (Status.DISPATCHED, Status.PROCESSING)
        world.serial += 1
        rows.append(
            Case(
                number=f"{timezone.localdate(now):%Y%m%d}{world.serial:06d}",
                district_code=cell.code[:6],
                category=world.category,
                urgency=Urgency.NORMAL,
                source=Source.PATROL,
                status=status,
                description=f"crash proof {world.serial}",
                lat=rng.uniform(min(lats), max(lats)),
                lng=rng.uniform(min(lngs), max(lngs)),
                address=cell.name,
                cell=cell,
                unit=world.unit if with_unit else None,
                first_unit=world.unit if with_unit else None,
                reported_at=started,
                updated_at=started,
                step_started_at=started,
                step_limit_minutes=60,
                step_clock=Clock.NATURAL,
                deadline_at=deadline,
                is_on_hold=kind == "on_hold",
                is_overdue=kind == "escalated",
                is_supervised=kind == "escalated",
                escalated_step_at=started if kind == "escalated" else None,
            )
        )
        kinds.append(kind)
    made = Case.objects.bulk_create(rows, batch_size=500)
    numbers = {c.number: kind for c, kind in zip(made, kinds, strict=True)}
    stored = Case.objects.filter(number__in=numbers).values_list("pk", "number", "step_started_at")
    for pk, number, step_at in stored:
        if numbers[number] == "overdue" and step_at is not None:
            world.expected.add((pk, step_at))
        elif numbers[number] in ("ahead", "on_hold"):
            world.not_escalated.add(pk)


def move_to_new_steps(world: World, rng: random.Random, count: int) -> int:
    """Move up to ``count`` escalated cases to a new overdue step (as a transition would)."""
    from django.db.models import F
    from django.utils import timezone

    from civicgrid.cases.models import Case

    done = list(
        Case.objects.filter(escalated_step_at=F("step_started_at"))
        .exclude(pk__in=world.not_escalated)
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    moved = 0
    for pk in rng.sample(done, min(count, len(done))):
        started = _step_start(now, rng, (2.0, 3.0))
        Case.objects.filter(pk=pk).update(
            step_started_at=started,
            deadline_at=started + dt.timedelta(minutes=30),
            updated_at=now,
            is_overdue=False,
        )
        stored = Case.objects.values_list("step_started_at", flat=True).get(pk=pk)
        assert stored is not None
        world.expected.add((pk, stored))
        moved += 1
    return moved


def add_audit_rows(world: World, run: int, count: int) -> None:
    from django.utils import timezone

    from civicgrid.core.models import AuditRecord

    now = timezone.now()
    AuditRecord.objects.bulk_create(
        [
            AuditRecord(
                created_at=now,
                actor=None,
                actor_label="system",
                action="proof.filler",
                data={"run": run, "n": n},
            )
            for n in range(count)
        ],
        batch_size=1000,
    )
    world.fillers += count


def enqueue_tasks() -> int:
    from civicgrid.cases.tasks import escalate_overdue_task
    from civicgrid.core.tasks import publish_audit_head_task, seal_audit_task

    for _n in range(2):
        escalate_overdue_task.enqueue()
        seal_audit_task.enqueue()
    publish_audit_head_task.enqueue()
    return 5


# --------------------------------------------------------------------------- the worker


class WorkerProcess:
    started: list[WorkerProcess] = []  # every worker of this proof, killed on the way out

    def __init__(self, env: dict[str, str], logdir: Path, number: int) -> None:
        self.stdout_path = logdir / f"worker-{number}.out"
        self.stderr_path = logdir / f"worker-{number}.err"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            # --skip-checks: the system checks take seconds on a busy machine and play no part
            # in how a killed worker recovers.
            self.process = subprocess.Popen(
                [sys.executable, str(MANAGE), "worker", "--interval", "0.2", "--skip-checks"],
                env=env,
                cwd=BASE_DIR,
                stdout=out,
                stderr=err,
            )
        WorkerProcess.started.append(self)

    def wait_started(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Worker started" in self.stdout_path.read_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"the worker did not start (status {self.process.returncode}):\n"
            + self.stderr_path.read_text()[-3000:]
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 120.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def recovery_lines(self) -> int:
        return self.stderr_path.read_text().count("queued again")


def snapshot(world: World, *, killed_pid: int | None = None) -> dict[str, Any]:
    """Queue, escalation and sealing state now. With ``killed_pid``, the tasks that worker was
    running are told apart from those an earlier worker left and it had not recovered yet."""
    from django.db import close_old_connections
    from django_tasks_db.models import DBTaskResult

    from civicgrid.cases.models import Action, Trace
    from civicgrid.core.models import AuditRecord

    close_old_connections()
    mine: list[str] = []
    earlier: list[str] = []
    for path, worker_ids in DBTaskResult.objects.running().values_list("task_path", "worker_ids"):
        name = path.rsplit(".", 1)[-1]
        last = str(worker_ids[-1]) if worker_ids else ""
        (mine if killed_pid is None or f":{killed_pid}:" in last else earlier).append(name)
    return {
        "running_tasks": sorted(mine),
        "left_by_earlier_workers": sorted(earlier),
        "ready_tasks": DBTaskResult.objects.ready().count(),
        "escalated": Trace.objects.filter(action=Action.ESCALATE).count(),
        "expected": len(world.expected),
        "unsealed": AuditRecord.objects.filter(seal_seq__isnull=True).count(),
    }


def drained(world: World) -> bool:
    state = snapshot(world)
    return (
        not state["running_tasks"]
        and not state["left_by_earlier_workers"]
        and state["ready_tasks"] == 0
        and state["unsealed"] == 0
        and state["escalated"] >= state["expected"]
    )


# --------------------------------------------------------------------------- the checks


def check(world: World, figures: Figures, audit_base: int) -> None:
    """Record every violation in ``figures.violations``, and the figures counted on the way."""
    check_tasks(figures)
    check_escalations(world, figures)
    check_audit(world, figures, audit_base)


def check_tasks(figures: Figures) -> None:
    """Every task enqueued ended SUCCESSFUL: none left READY or RUNNING, none FAILED."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    bad = figures.violations
    statuses = Counter(DBTaskResult.objects.values_list("status", flat=True))
    figures.tasks = {str(k): v for k, v in sorted(statuses.items())}
    figures.tasks_rerun = sum(
        1 for ids in DBTaskResult.objects.values_list("worker_ids", flat=True) if len(ids) > 1
    )
    for status in (TaskResultStatus.READY, TaskResultStatus.RUNNING, TaskResultStatus.FAILED):
        if statuses.get(status):
            bad.append(f"{statuses[status]} task(s) left {status}")
    if statuses.get(TaskResultStatus.SUCCESSFUL, 0) != figures.tasks_enqueued:
        bad.append(
            f"{statuses.get(TaskResultStatus.SUCCESSFUL, 0)} tasks successful,"
            f" {figures.tasks_enqueued} enqueued"
        )
    for path, traceback in DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).values_list(
        "task_path", "traceback"
    )[:3]:
        bad.append(f"failed {path}: {traceback.strip().splitlines()[-1:]}")


def check_escalations(world: World, figures: Figures) -> None:
    """Each overdue step escalated once (trace, audit row, notifications), nothing else."""
    from django.db.models import F

    from civicgrid.accounts.models import Notification
    from civicgrid.cases.models import Action, Case, Trace
    from civicgrid.core.models import AuditRecord

    bad = figures.violations
    traces = Counter(
        Trace.objects.filter(action=Action.ESCALATE).values_list("case_id", "started_at")
    )
    figures.escalations = sum(traces.values())
    doubled = {key: n for key, n in traces.items() if n > 1}
    missing = world.expected - set(traces)
    extra = set(traces) - world.expected
    if doubled:
        bad.append(f"{len(doubled)} step(s) escalated more than once, e.g. {next(iter(doubled))}")
    if missing:
        bad.append(f"{len(missing)} overdue step(s) never escalated, e.g. {next(iter(missing))}")
    if extra:
        bad.append(
            f"{len(extra)} step(s) escalated that were not overdue, e.g. {next(iter(extra))}"
        )
    per_case = Counter(case_id for case_id, _started in world.expected)
    audited = Counter(
        int(target)
        for target in AuditRecord.objects.filter(action="case.escalate").values_list(
            "target_id", flat=True
        )
    )
    if audited != per_case:
        bad.append(
            f"case.escalate audit rows differ from the escalated steps for"
            f" {len(set(audited.items()) ^ set(per_case.items()))} case(s)"
        )
    notes = Counter(
        Notification.objects.filter(dedupe_key__startswith="escalate:").values_list(
            "dedupe_key", flat=True
        )
    )
    figures.notifications = sum(notes.values())
    if len(notes) != len(world.expected) or set(notes.values()) - {world.supervisors}:
        bad.append(
            f"{figures.notifications} escalation notifications under {len(notes)} keys; expected"
            f" {world.supervisors} for each of {len(world.expected)} steps"
        )
    stale = (
        Case.objects.filter(pk__in=list(per_case))
        .exclude(escalated_step_at=F("step_started_at"), is_overdue=True, is_supervised=True)
        .count()
    )
    if stale:
        bad.append(f"{stale} escalated case(s) not marked escalated, overdue and supervised")
    wrongly = Case.objects.filter(pk__in=world.not_escalated, escalated_step_at__isnull=False)
    if wrongly.exists():
        bad.append(f"{wrongly.count()} case(s) on hold or not due were escalated")


def check_audit(world: World, figures: Figures, audit_base: int) -> None:
    """The expected number of audit rows, each sealed once, seal_seq 1..n, the chain intact."""
    from django.db.models import Count, Max, Min

    from civicgrid.core.models import AuditChainHead, AuditRecord
    from civicgrid.core.services import audit_verify

    bad = figures.violations
    figures.audit_rows = AuditRecord.objects.count()
    expected_rows = audit_base + world.fillers + len(world.expected)
    if figures.audit_rows != expected_rows:
        bad.append(f"{figures.audit_rows} audit rows, expected {expected_rows}")
    seals = AuditRecord.objects.filter(seal_seq__isnull=False).aggregate(
        n=Count("id"),
        distinct=Count("seal_seq", distinct=True),
        low=Min("seal_seq"),
        high=Max("seal_seq"),
    )
    figures.sealed_rows = seals["n"]
    if seals["n"] != figures.audit_rows:
        bad.append(f"{figures.audit_rows - seals['n']} audit row(s) left unsealed")
    if seals["distinct"] != seals["n"]:
        bad.append(f"{seals['n'] - seals['distinct']} duplicate seal_seq value(s)")
    if seals["n"] and (seals["low"], seals["high"]) != (1, seals["n"]):
        bad.append(f"seal_seq runs {seals['low']}..{seals['high']} over {seals['n']} rows")
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or head.last_seq != seals["n"]:
        bad.append(f"chain head at {head.last_seq if head else None}, {seals['n']} rows sealed")
    verification = audit_verify()
    figures.chain_ok = verification.ok
    if not verification.ok or verification.checked_count != seals["n"]:
        bad.append(
            f"audit_verify: ok={verification.ok} checked={verification.checked_count}"
            f" row={verification.broken_record_id} {verification.reason}"
        )


# --------------------------------------------------------------------------- main


def prepare_batch(world: World, rng: random.Random, args: argparse.Namespace, run: int) -> int:
    if run > 0:
        move_to_new_steps(world, rng, max(1, args.cases // 10))
    add_cases(world, rng, args.cases)
    add_audit_rows(world, run, args.audit_rows)
    return enqueue_tasks()


def prove(args: argparse.Namespace, env: dict[str, str], logdir: Path) -> Figures:
    import django

    for name in set(os.environ) - set(env):
        del os.environ[name]  # DATABASE_URL of the caller when the proof runs on SQLite
    os.environ.update(env)
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from civicgrid.cases.models import Case
    from civicgrid.core.models import AuditRecord

    figures = Figures(
        db=connection.vendor,
        runs=args.runs,
        seed=args.seed,
        cases_per_batch=args.cases,
        audit_rows_per_batch=args.audit_rows,
    )
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(args.seed)
    world = build(rng)
    audit_base = AuditRecord.objects.count()
    figures.prepare_seconds = round(time.perf_counter() - started, 1)
    print(f"prepared (migrate, world) in {figures.prepare_seconds} s", flush=True)
    for run in range(args.runs + 1):
        figures.tasks_enqueued += prepare_batch(world, rng, args, run)
        worker = WorkerProcess(env, logdir, run + 1)
        worker.wait_started()
        if run == args.runs:
            break  # the last worker is left to finish
        delay = round(rng.uniform(args.min_delay, args.max_delay), 3)
        time.sleep(delay)
        worker.kill()
        at_kill = snapshot(world, killed_pid=worker.process.pid)
        figures.kills.append({"run": run + 1, "after_s": delay, **at_kill})
        figures.recovery_log_lines += worker.recovery_lines()
        print(
            f"run {run + 1}: SIGKILL {delay:.3f} s after start; at the kill: running"
            f" {', '.join(at_kill['running_tasks']) or 'no task'}"
            f" (+{len(at_kill['left_by_earlier_workers'])} left by earlier workers),"
            f" {at_kill['ready_tasks']} ready,"
            f" escalated {at_kill['escalated']}/{at_kill['expected']},"
            f" {at_kill['unsealed']} audit rows unsealed",
            flush=True,
        )
    drain_started = time.perf_counter()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and not drained(world):
        if worker.process.poll() is not None:
            figures.violations.append(f"the last worker exited ({worker.process.returncode})")
            break
        time.sleep(0.3)
    figures.drain_seconds = round(time.perf_counter() - drain_started, 2)
    if not drained(world):
        figures.violations.append(f"not drained after {args.timeout:g} s: {snapshot(world)}")
    status = worker.stop()
    figures.recovery_log_lines += worker.recovery_lines()
    if status != 0:
        figures.violations.append(
            f"the last worker ended with status {status} on SIGTERM: "
            + worker.stderr_path.read_text()[-2000:]
        )
    figures.cases = Case.objects.count()
    figures.expected_escalations = len(world.expected)
    check(world, figures, audit_base)
    figures.seconds = round(time.perf_counter() - started, 1)
    connection.close()
    return figures


def report(figures: Figures) -> None:
    tasks = ", ".join(f"{n} {status}" for status, n in figures.tasks.items())
    points = ", ".join(f"{k['after_s']:.2f}" for k in figures.kills)
    during_task = sum(1 for k in figures.kills if k["running_tasks"])
    print(
        f"crash proof on {figures.db}: {figures.runs} runs, {len(figures.kills)} kills (SIGKILL at"
        f" {points} s after start; {during_task} while the worker ran a task), seed"
        f" {figures.seed}\n"
        f"  tasks: {figures.tasks_enqueued} enqueued; {tasks}; {figures.tasks_rerun} claimed again"
        f" after recovery ({figures.recovery_log_lines} recoveries logged)\n"
        f"  escalations: {figures.escalations} trace rows for {figures.expected_escalations}"
        f" overdue steps of {figures.cases} cases; {figures.notifications} notifications\n"
        f"  audit: {figures.audit_rows} rows, {figures.sealed_rows} sealed, chain"
        f" {'verified' if figures.chain_ok else 'BROKEN'}\n"
        f"  time: {figures.seconds} s in all; {figures.prepare_seconds} s to prepare,"
        f" {figures.drain_seconds} s for the last worker to finish"
    )
    if figures.violations:
        print("VIOLATIONS:\n  " + "\n  ".join(figures.violations))
    else:
        print("OK: no task lost, doubled or stuck; escalation and sealing exactly once")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="workers killed (default 5)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cases", type=int, default=400, help="open cases added per start")
    parser.add_argument("--audit-rows", type=int, default=3000, help="audit rows per start")
    parser.add_argument("--seed", type=int, default=None, help="default: drawn and printed")
    parser.add_argument("--min-delay", type=float, default=0.05)
    parser.add_argument("--max-delay", type=float, default=2.0)
    parser.add_argument("--lease", type=int, default=None, help="CIVICGRID_TASK_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=300.0, help="for the last worker (s)")
    env_url = os.environ.get("DATABASE_URL", "")
    parser.add_argument(
        "--pg-url",
        default=env_url
        if env_url.startswith("postgres")
        else "postgres://postgres@127.0.0.1:5432/",
        help="a PostgreSQL server (its database name is replaced by crash_proof_<pid>)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.cases < 10 or args.audit_rows < 0:
        parser.error("--runs must be ≥ 1, --cases ≥ 10 and --audit-rows ≥ 0")
    if not 0 <= args.min_delay <= args.max_delay:
        parser.error("--min-delay must be between 0 and --max-delay")
    if args.lease is not None and args.lease < 1:
        parser.error("--lease must be ≥ 1 second")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    args.pg_name = f"crash_proof_{os.getpid()}"
    print(f"crash proof: --db {args.db} --runs {args.runs} --seed {args.seed}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="civicgrid-crash-proof-"))
    created_pg = False
    try:
        if args.db == "postgres":
            _pg_admin(args.pg_url, f'CREATE DATABASE "{args.pg_name}"')
            created_pg = True
        figures = prove(args, _environment(args, workdir), workdir)
    except Exception as exc:  # the proof could not run: say why, exit 2
        print(f"crash proof could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        for worker in WorkerProcess.started:
            worker.kill()
        if created_pg and not args.keep:
            _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
        if args.keep:
            print(f"kept: {workdir}" + (f", database {args.pg_name}" if created_pg else ""))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(figures)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures.__dict__, indent=2, default=str) + "\n")
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
