"""A tiny in-process scheduler for the periodic jobs of the embedded worker.

``settings.CIVICGRID_PERIODIC_JOBS`` lists ``(dotted path to a plain callable, interval in
seconds)``. Each job runs first right after start, then every interval after its previous run
*finished* (a slow job never piles up behind itself). Jobs must be idempotent: several worker
nodes may run the same job; the jobs themselves take the locks they need (``audit_seal``
locks the chain head).

A job that raises is logged and runs again at its next time; the loop never dies of it.
Database connections are closed between runs, as Django does between requests, so a
restarted database or an idle timeout does not break the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    path: str
    interval_s: float
    func: Callable[[], object]
    next_run_at: float = 0.0  # time.monotonic() value


def load_jobs(spec: Sequence[tuple[str, float]] | None = None) -> list[PeriodicJob]:
    """Import the configured jobs; a bad entry fails at start, not at its first run."""
    if spec is None:
        spec = getattr(settings, "CIVICGRID_PERIODIC_JOBS", [])
    jobs: list[PeriodicJob] = []
    for entry in spec:
        try:
            path, interval = entry
            interval_s = float(interval)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"CIVICGRID_PERIODIC_JOBS entry {entry!r} is not (dotted path, seconds)."
            ) from exc
        if not interval_s > 0:
            raise ImproperlyConfigured(
                f"CIVICGRID_PERIODIC_JOBS entry {path!r} needs an interval above zero."
            )
        try:
            func = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"CIVICGRID_PERIODIC_JOBS entry {path!r} cannot be imported: {exc}"
            ) from exc
        if not callable(func):
            raise ImproperlyConfigured(f"CIVICGRID_PERIODIC_JOBS entry {path!r} is not callable.")
        jobs.append(PeriodicJob(path=path, interval_s=interval_s, func=func))
    return jobs


def run_due_jobs(jobs: Sequence[PeriodicJob], now: float | None = None) -> float:
    """Run every job that is due; return the monotonic time at which the next one is due."""
    for job in jobs:
        if (now if now is not None else time.monotonic()) < job.next_run_at:
            continue
        close_old_connections()
        started = time.monotonic()
        try:
            result = job.func()
        except Exception:
            logger.exception("Periodic job %s failed", job.path)
        else:
            logger.debug(
                "Periodic job %s done in %.3f s: %r", job.path, time.monotonic() - started, result
            )
        finally:
            close_old_connections()
        job.next_run_at = time.monotonic() + job.interval_s
    return min((job.next_run_at for job in jobs), default=time.monotonic() + 60.0)


def run_periodic_forever(
    stop_event: threading.Event, jobs: Sequence[PeriodicJob] | None = None
) -> None:
    """Run the periodic jobs until ``stop_event`` is set. Meant for a thread of its own.

    Returns within a moment of ``stop_event`` being set, unless a job is running: the job is
    allowed to finish (its transaction is never cut in half). Closes this thread's database
    connections on the way out.
    """
    if jobs is None:
        jobs = load_jobs()
    logger.info("Periodic jobs started: %s", ", ".join(j.path for j in jobs) or "none")
    try:
        while not stop_event.is_set():
            next_due = run_due_jobs(jobs)
            stop_event.wait(max(0.0, min(next_due - time.monotonic(), 60.0)))
    finally:
        connections.close_all()
        logger.info("Periodic jobs stopped")
