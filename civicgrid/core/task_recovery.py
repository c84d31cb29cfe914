"""Recovery of tasks left RUNNING by a task worker that died (SIGKILL, OOM killer, power loss).

django-tasks-db marks a task RUNNING when a worker claims it and SUCCESSFUL or FAILED when the
task returns; it has no lease and no heartbeat (upstream issue RealOrangeOne/django-tasks-db#5),
so a task whose worker died stays RUNNING for ever and is never run again. This module puts such
tasks back to READY. That is safe because every task of civicgrid is idempotent (STYLE.md: thin,
keyed by id, safe to retry): a task that had done half its work, or all of it but the final
"successful", does the rest, or nothing, when it runs again.

A task's worker is taken as gone when either

- its id was made by :func:`new_worker_id` on this host and that process no longer exists, or
  is this very process under an id it does not run any more (a restarted container reuses
  pids): recovered at once, so a worker restarted after a crash picks its tasks up again at
  start; or
- the task has been RUNNING longer than the lease, ``CIVICGRID_TASK_LEASE_SECONDS`` (default
  600 s): workers on other hosts, and ids of other forms (django-tasks-db's own ``db_worker``).

A task of a worker that is alive on another host and runs longer than the lease is run a second
time beside it; keep the lease well above the longest task. The tasks of the live workers of
this process are never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

DEFAULT_LEASE_S = 600.0
WORKER_ID_PREFIX = "cg"
_HOST_MAX = 32  # django-tasks-db refuses worker ids of 64 characters or more

_live_lock = threading.Lock()
_live_worker_ids: set[str] = set()


@dataclass(frozen=True)
class RecoveredTask:
    id: str
    task_path: str
    worker_id: str
    reason: str  # "worker process gone" or "lease expired"


def task_lease_seconds() -> float:
    """``settings.CIVICGRID_TASK_LEASE_SECONDS`` as a number above zero (default 600)."""
    value = getattr(settings, "CIVICGRID_TASK_LEASE_SECONDS", DEFAULT_LEASE_S)
    try:
        lease_s = float(value)
    except (TypeError, ValueError):
        lease_s = float("nan")
    if not lease_s > 0 or lease_s == float("inf"):
        raise ImproperlyConfigured(
            f"CIVICGRID_TASK_LEASE_SECONDS must be a number of seconds above zero, not {value!r}."
        )
    return lease_s


def recovery_interval_seconds(lease_s: float | None = None) -> float:
    """How often a worker looks for stuck tasks: half the lease, between 1 and 60 seconds."""
    lease_s = task_lease_seconds() if lease_s is None else lease_s
    return max(1.0, min(60.0, lease_s / 2))


def _host() -> str:
    return (socket.gethostname() or "localhost").replace(":", "-")[:_HOST_MAX]


def new_worker_id() -> str:
    """A worker id that says where the worker runs: ``cg:<host>:<pid>:<random>``.

    The host and pid let :func:`task_recover_stuck` on the same host see at once that the
    worker is gone; the random part tells two workers of one process (or of one reused pid)
    apart.
    """
    return f"{WORKER_ID_PREFIX}:{_host()}:{os.getpid()}:{get_random_string(12)}"


def worker_started(worker_id: str) -> None:
    """Record that this process runs ``worker_id`` (its tasks are never recovered here)."""
    with _live_lock:
        _live_worker_ids.add(worker_id)


def worker_stopped(worker_id: str) -> None:
    with _live_lock:
        _live_worker_ids.discard(worker_id)


def _is_gone(worker_id: str, *, host: str, pid: int) -> bool:
    """True only when ``worker_id`` surely belongs to no running worker; False when unsure."""
    with _live_lock:
        if worker_id in _live_worker_ids:
            return False
    parts = worker_id.split(":")
    if len(parts) != 4 or parts[0] != WORKER_ID_PREFIX or parts[1] != host:
        return False
    try:
        worker_pid = int(parts[2])
    except ValueError:
        return False
    if worker_pid == pid:
        return True  # this process, under an id none of its workers has: an earlier life
    if worker_pid <= 0:
        return False
    try:
        os.kill(worker_pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return False  # alive, or the pid was reused: the lease decides


def _stuck_q(cutoff: dt.datetime) -> Q:
    return Q(started_at__lt=cutoff) | Q(started_at__isnull=True)


def stuck_task_count(*, now: dt.datetime | None = None) -> int:
    """Tasks RUNNING for longer than the lease (the ``civicgrid_tasks_stuck`` gauge)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=task_lease_seconds())
    return DBTaskResult.objects.running().filter(_stuck_q(cutoff)).count()


def task_recover_stuck(
    *, lease_s: float | None = None, now: dt.datetime | None = None
) -> list[RecoveredTask]:
    """Put every task left RUNNING by a worker that is gone back to READY; return them.

    Writes, per task, one conditional UPDATE of ``django_tasks_db``'s result row: status READY
    and ``started_at`` cleared, only while the row is still RUNNING with the same start, so a
    task that ended meanwhile, or that another worker recovered and claimed again, is left
    alone and two recoveries at once never double a task. ``worker_ids`` keeps its history:
    the next worker that claims the task is appended after the dead one. Logs one warning per
    task. No audit row: the task queue is not domain data and no domain row changes here.
    Runs in autocommit (no transaction needed); safe on every node at any time.
    """
    lease_s = task_lease_seconds() if lease_s is None else lease_s
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=lease_s)
    host, pid = _host(), os.getpid()
    recovered: list[RecoveredTask] = []
    running = DBTaskResult.objects.running().values_list(
        "id", "task_path", "started_at", "worker_ids"
    )
    for task_id, task_path, started_at, worker_ids in running:
        worker_id = str(worker_ids[-1]) if worker_ids else ""
        with _live_lock:
            if worker_id in _live_worker_ids:
                continue
        if _is_gone(worker_id, host=host, pid=pid):
            reason = "worker process gone"
        elif started_at is None or started_at < cutoff:
            reason = "lease expired"
        else:
            continue
        same_start = Q(started_at__isnull=True) if started_at is None else Q(started_at=started_at)
        updated = (
            DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING)
            .filter(same_start)
            .update(status=TaskResultStatus.READY, started_at=None)
        )
        if not updated:
            continue
        recovered.append(
            RecoveredTask(id=str(task_id), task_path=task_path, worker_id=worker_id, reason=reason)
        )
        logger.warning(
            "Task %s (%s) was left running by worker %s (%s, started %s): queued again",
            task_id,
            task_path,
            worker_id or "?",
            reason,
            started_at.isoformat() if started_at else "?",
        )
    return recovered
