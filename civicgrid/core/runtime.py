"""The in-process background of `manage.py serve` and `manage.py worker`.

Two daemon threads: the django-tasks-db worker loop (runs enqueued tasks) and the periodic
scheduler (:mod:`civicgrid.core.periodic`). Neither installs signal handlers: the command that
owns the main thread decides how the process stops, then calls :meth:`Background.stop`, which
lets a running task or job finish.
"""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType

from django.db import connections
from django.tasks import task_backends
from django.utils.crypto import get_random_string
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker

from .periodic import load_jobs, run_periodic_forever

logger = logging.getLogger(__name__)


class ThreadedDbWorker(Worker):
    """The django-tasks-db worker, runnable in a thread: no signal handlers, stopped by a flag."""

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
                batch=False,
                backend_name=backend_name,
                startup_delay=False,
                max_tasks=None,
                worker_id=get_random_string(32),
                excluded_queue_names=[],
            )

    @property
    def descriptions(self) -> list[str]:
        parts = []
        if self.worker is not None:
            parts.append("task worker")
        if self.jobs is not None:
            parts.append("periodic jobs (" + ", ".join(j.path for j in self.jobs) + ")")
        return parts

    def start(self) -> None:
        if self.worker is not None:
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
        return not any(thread.is_alive() for thread in self.threads)

    def _run_worker(self) -> None:
        assert self.worker is not None
        try:
            while not self.stop_event.is_set():
                try:
                    self.worker.run()
                except Exception:
                    # e.g. the database went away: log, wait, and poll again.
                    logger.exception("The task worker loop failed; restarting it")
                    self.stop_event.wait(self.interval_s)
                else:
                    return  # run() returns only once stopped
        finally:
            connections.close_all()
