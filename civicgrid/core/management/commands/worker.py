"""`manage.py worker`: the task worker and the periodic jobs, in the foreground, no web server.

One per node in a production deployment (the jobs are idempotent and lock what they need).
SIGTERM or SIGINT stops it cleanly: the running task or job finishes, then the process exits
with status 0. A second signal forces the exit with status 1.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.runtime import Background


def _interval(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(
            _("“%(value)s” is not a number of seconds above zero.") % {"value": value}
        )
    return number


class Command(BaseCommand):
    help = "Run the task worker and the periodic jobs until SIGTERM or SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=_interval,
            default=1.0,
            help="seconds between polls of the task queue when it is empty (default 1)",
        )
        parser.add_argument("--no-tasks", action="store_true", help="periodic jobs only")
        parser.add_argument("--no-periodic", action="store_true", help="task worker only")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["no_tasks"] and options["no_periodic"]:
            raise CommandError(_("Nothing to run: both --no-tasks and --no-periodic were given."))
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if stop.is_set():
                os._exit(1)  # second signal: do not wait for the running task
            stop.set()

        background = Background(
            tasks=not options["no_tasks"],
            periodic=not options["no_periodic"],
            interval_s=options["interval"],
        )
        if not background.descriptions:
            raise CommandError(_("Nothing to run: no database task backend and no periodic jobs."))
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        background.start()
        self.stdout.write(
            _("Worker started: %(parts)s.") % {"parts": "; ".join(background.descriptions)}
        )
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
            self.stdout.write(_("Stopping: letting the running task finish."))
            self.stdout.flush()
            background.stop(timeout_s=None)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(_("Worker stopped."))
