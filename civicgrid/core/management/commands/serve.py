"""`manage.py serve`: the one-process mode of `make run`.

Django's threaded development-grade HTTP server in the main thread, with the task worker and
the periodic jobs in daemon threads of the same process (:mod:`civicgrid.core.runtime`). For a
real deployment run gunicorn for the web and `manage.py worker` beside it instead.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.runtime import Background


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(
            _("“%(value)s” is not a port number (1 to 65535).") % {"value": value}
        )
    return port


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # runserver stops cleanly on it; SIGTERM should do the same


class Command(BaseCommand):
    help = "Serve the site with the task worker and periodic jobs in the same process."
    requires_system_checks: list[str] = []  # runserver runs them

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=_port, default=8000)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="serve pages only; run `manage.py worker` elsewhere for tasks and periodic jobs",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        bound = f"[{host}]" if ":" in host else host
        background = None
        if not options["no_worker"]:
            background = Background()
            background.start()
            self.stdout.write(
                _("Running in this process: %(parts)s.")
                % {"parts": "; ".join(background.descriptions)}
            )
        self.stdout.write(_("civicgrid: open http://%(addr)s/") % {"addr": f"{bound}:{port}"})
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            call_command(
                "runserver",
                f"{bound}:{port}",
                use_reloader=False,
                skip_checks=False,
                shutdown_message=_("Stopping."),
            )
        finally:
            if background is not None:
                background.stop()
