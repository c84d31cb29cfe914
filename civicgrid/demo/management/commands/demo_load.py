"""`manage.py demo_load`: fill an empty database with the demo community and two years of cases.

Every case goes through the real case services at backdated times, so the result looks and
behaves like a platform that has been running for two years. The demo logins share the password
``demo12345``: demo data only, never load it into a real deployment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.models import Role
from civicgrid.cases.models import Status
from civicgrid.core.services import audit_seal
from civicgrid.demo.generator import (
    DEFAULT_CASES,
    DEFAULT_RESIDENTS,
    DEFAULT_SEED,
    DEMO_LOGINS,
    DEMO_OPEN311_KEY,
    DEMO_PASSWORD,
    MAX_CASES,
    MAX_RESIDENTS,
    demo_digest,
    demo_logins_present,
    demo_present,
    load_demo,
)

SITE_URL = "http://127.0.0.1:8000/"


def _whole_number(low: int, high: int) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise argparse.ArgumentTypeError(
                _("“%(value)s” is not a whole number from %(low)d to %(high)d.")
                % {"value": value, "low": low, "high": high}
            )
        return number

    return parse


def _end_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("“%(value)s” is not a date and time such as 2026-06-30T18:00.") % {"value": value}
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    if moment > timezone.now():
        raise argparse.ArgumentTypeError(
            _("“%(value)s” is in the future; the demo history ends now or earlier.")
            % {"value": value}
        )
    return moment


class Command(BaseCommand):
    help = (
        "Load the demo community (a street of three communities, 60 grid cells, units, staff, "
        "residents and two years of cases) into an empty database. Demo logins share the "
        f"password {DEMO_PASSWORD}: demo data only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed",
            type=_whole_number(0, 2**63 - 1),
            default=DEFAULT_SEED,
            help="random seed; the same seed and end time give the same data (default 2026)",
        )
        parser.add_argument(
            "--cases",
            type=_whole_number(0, MAX_CASES),
            default=DEFAULT_CASES,
            help=f"number of cases over the two years (default {DEFAULT_CASES})",
        )
        parser.add_argument(
            "--residents",
            type=_whole_number(1, MAX_RESIDENTS),
            default=DEFAULT_RESIDENTS,
            help=f"number of resident accounts (default {DEFAULT_RESIDENTS})",
        )
        parser.add_argument(
            "--end",
            type=_end_time,
            default=None,
            help="end of the simulated history, e.g. 2026-06-30T18:00 (default: now)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing (successfully) when demo data or cases are already there",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if demo_present():
            if options["if_empty"]:
                self.stdout.write(_("Demo data (or other cases) is already there; nothing loaded."))
                if demo_logins_present():
                    self._print_logins()
                return
            raise CommandError(
                _(
                    "The database already holds demo data or cases. Load the demo into an "
                    "empty database, or pass --if-empty to skip quietly."
                )
            )
        started = time.perf_counter()
        self.stdout.write(
            _(
                "Loading the demo community: seed %(seed)d, %(cases)d cases, "
                "%(residents)d residents."
            )
            % {
                "seed": options["seed"],
                "cases": options["cases"],
                "residents": options["residents"],
            }
        )
        # With DEBUG on, Django keeps a formatted copy of each of the ~100,000 queries (on SQLite
        # with an extra QUOTE() query per statement); the loader does not need that log.
        with override_settings(DEBUG=False):
            result = load_demo(
                seed=options["seed"],
                case_count=options["cases"],
                resident_count=options["residents"],
                end=options["end"],
                progress=self.stdout.write,
            )
            sealing = time.perf_counter()
            sealed = audit_seal()
            result.seconds["seal"] = time.perf_counter() - sealing
        elapsed = time.perf_counter() - started
        for message in result.failed_steps[:20]:
            self.stderr.write(_("A step was refused: %(message)s") % {"message": message})
        labels_time = {"setup": _("setup"), "cases": _("cases"), "seal": _("sealing")}
        labels = {
            "cells": _("grid cells"),
            "organizations": _("organizations"),
            "routing rules": _("routing rules"),
            "staff": _("staff"),
            "residents": _("residents"),
            "grid members": _("grid members"),
            "cases": _("cases"),
            "traces": _("trace rows"),
            "ratings": _("ratings"),
            "photos": _("photos"),
        }
        self.stdout.write(
            _("Made: %(counts)s.")
            % {"counts": ", ".join(f"{labels.get(k, k)} {n}" for k, n in result.counts.items())}
        )
        self.stdout.write(
            _("Case states: %(states)s.")
            % {"states": ", ".join(f"{Status(s).label} {n}" for s, n in result.statuses.items())}
        )
        self.stdout.write(
            _("Sealed %(count)d audit rows. Loaded in %(seconds).1f s.")
            % {"count": sealed, "seconds": elapsed}
        )
        self.stdout.write(
            _("Time spent: %(parts)s. Data digest: %(digest)s.")
            % {
                "parts": ", ".join(
                    f"{labels_time.get(k, k)} {v:.1f} s" for k, v in result.seconds.items()
                ),
                "digest": demo_digest()[:16],
            }
        )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(
            _("Demo logins (password %(password)s; demo data only, never on a real site):")
            % {"password": DEMO_PASSWORD}
        )
        rows = [
            (str(Role(login.role).label), login.username, login.description)
            for login in DEMO_LOGINS
        ]
        width_role = max(len(r[0]) for r in rows)
        width_user = max(len(r[1]) for r in rows)
        for role, username, description in rows:
            self.stdout.write(f"  {role:<{width_role}}  {username:<{width_user}}  {description}")
        self.stdout.write(
            _(
                "More logins: operator2, hotline, leader2, committee2-3, gridworker2-12, "
                "handler_<unit> (e.g. handler_lights, handler_municipal), resident0002-…"
            )
        )
        self.stdout.write(
            _("Open311 demo api_key: %(key)s (see docs/api/open311.md)") % {"key": DEMO_OPEN311_KEY}
        )
        self.stdout.write(self.style.SUCCESS(_("Open %(url)s") % {"url": SITE_URL}))
