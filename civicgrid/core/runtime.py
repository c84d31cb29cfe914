"""The in-process background of `manage.py serve` and `manage.py worker`.

Two daemon threads: the django-tasks-db worker loop (runs enqueued tasks) and the periodic
scheduler (:mod:`civicgrid.core.periodic`). Neither installs signal handlers: the command that
owns the main thread decides how the process stops, then calls :meth:`Background.stop`, which
lets a running task or job finish.

The task thread also runs the stuck-task recovery (:mod:`civicgrid.core.task_recovery`): at
start, before it takes its first task, then every half lease (at most every minute) between
tasks and between polls, and again at the next chance when an attempt failed (e.g. SQLite was
busy). It runs in the task thread, not in the scheduler, because on SQLite the task thread is
the writer it would otherwise wait behind, and a long periodic sweep would delay it.
"""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType

from django.db import connections
from django.tasks import task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from . import task_recovery
from .periodic import load_jobs, run_periodic_forever

logger = logging.getLogger(__name__)


class ThreadedDbWorker(Worker):
    """The django-tasks-db worker, runnable in a thread: no signal handlers, stopped by a flag.

    Meant to run in batch mode (``run()`` returns once the queue is empty) under
    :meth:`Background._run_worker`, which recovers stuck tasks between polls; with
    ``recovery_interval_s`` set it also does so after each task when due.
    """

    recovery_interval_s: float | None = None
    next_recovery_at = 0.0  # time.monotonic(); 0 = at the first chance

    def recover_if_due(self) -> None:
        """Queue again the tasks of dead workers, when due. A failure is retried next time."""
        if self.recovery_interval_s is None or time.monotonic() < self.next_recovery_at:
            return
        try:
            task_recovery.task_recover_stuck()
        except Exception as exc:
            logger.warning("Stuck-task recovery failed, trying again shortly: %s", exc)
        else:
            self.next_recovery_at = time.monotonic() + self.recovery_interval_s

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        finally:
            self.recover_if_due()

    def configure_signals(self) -> None:
        pass  # signals belong to the main thread; see Background.stop()

    def reset_signals(self) -> None:
        pass

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        self.running = False

    def stop(self) -> None:
        self.running = False


def database_task_backend_name() -> str | None:
    """The alias of the default task backend when it is the database one, else None."""
    backend = task_backends["default"]
    return "default" if isinstance(backend, DatabaseBackend) else None


class Background:
    """The task worker and the periodic jobs, each in a daemon thread of this process."""

    def __init__(
        self, *, tasks: bool = True, periodic: bool = True, interval_s: float = 1.0
    ) -> None:
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.worker: ThreadedDbWorker | None = None
        self.lease_s = 0.0
        self.interval_s = interval_s
        self.jobs = load_jobs() if periodic else None  # a bad setting fails here, at start
        backend_name = database_task_backend_name() if tasks else None
        if tasks and backend_name is None:
            logger.warning(
                "The default task backend is not the database backend: "
                "run that backend's own worker for enqueued tasks"
            )
        if backend_name is not None:
            self.worker = ThreadedDbWorker(
                queue_names=["*"],
                interval=interval_s,
                batch=True,  # run() returns when the queue is empty; see _run_worker()
                backend_name=backend_name,
                startup_delay=False,
                max_tasks=None,
                worker_id=task_recovery.new_worker_id(),
                excluded_queue_names=[],
            )
            self.lease_s = task_recovery.task_lease_seconds()  # a bad setting fails here
            self.worker.recovery_interval_s = task_recovery.recovery_interval_seconds(self.lease_s)

    @property
    def descriptions(self) -> list[str]:
        parts = []
        if self.worker is not None:
            parts.append("task worker")
        if self.jobs is not None:
            parts.append("periodic jobs (" + ", ".join(j.path for j in self.jobs) + ")")
        if self.worker is not None:
            parts.append(f"stuck-task recovery (lease {self.lease_s:g} s)")
        return parts

    def start(self) -> None:
        if self.worker is not None:
            task_recovery.worker_started(self.worker.worker_id)
            self.threads.append(
                threading.Thread(target=self._run_worker, name="civicgrid-tasks", daemon=True)
            )
        if self.jobs is not None:
            self.threads.append(
                threading.Thread(
                    target=run_periodic_forever,
                    args=(self.stop_event, self.jobs),
                    name="civicgrid-periodic",
                    daemon=True,
                )
            )
        for thread in self.threads:
            thread.start()

    def stop(self, timeout_s: float | None = 60.0) -> bool:
        """Ask both loops to stop and wait for them. True when every thread ended in time."""
        self.stop_event.set()
        if self.worker is not None:
            self.worker.stop()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self.threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        stopped = not any(thread.is_alive() for thread in self.threads)
        if stopped and self.worker is not None:
            task_recovery.worker_stopped(self.worker.worker_id)
        return stopped

    def _run_worker(self) -> None:
        """Recover stuck tasks when due, run the queued tasks, wait one poll interval; again,
        until stopped. Recovery comes first, so at start the tasks of a crashed predecessor
        are queued again before this worker takes any."""
        worker = self.worker
        assert worker is not None
        try:
            while not self.stop_event.is_set():
                worker.recover_if_due()
                try:
                    worker.run()  # batch mode: returns once the queue is empty, or stopped
                except Exception:
                    # e.g. the database went away: log, wait, and poll again.
                    logger.exception("The task worker loop failed; restarting it")
                if not worker.running:
                    return
                self.stop_event.wait(self.interval_s)
        finally:
            connections.close_all()
