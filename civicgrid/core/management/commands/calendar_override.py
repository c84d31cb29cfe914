"""`manage.py calendar_override --date 2027-02-06 --workday|--holiday [--note ...]`.

Records a manual calendar override through the audited service, e.g. the make-up working days
of a year the chinese-calendar package does not know yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.errors import CoreError
from civicgrid.core.services import NOTE_MAX_LENGTH, calendar_day_set


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("“%(value)s” is not a date of the form YYYY-MM-DD.") % {"value": value}
        ) from None


class Command(BaseCommand):
    help = "Mark a date as a working day or a holiday, overriding the official calendar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=_date, required=True, help="YYYY-MM-DD")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--workday", action="store_true", help="a (make-up) working day")
        kind.add_argument("--holiday", action="store_true", help="a day off")
        parser.add_argument(
            "--note", default="", help=f"why, e.g. the notice (≤ {NOTE_MAX_LENGTH} characters)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["date"]
        is_workday = bool(options["workday"])
        try:
            calendar_day_set(actor=None, day=day, is_workday=is_workday, note=options["note"])
        except CoreError as exc:
            raise CommandError(exc.message) from exc
        message = (
            _("%(day)s is now a working day.") if is_workday else _("%(day)s is now a holiday.")
        )
        self.stdout.write(message % {"day": day.isoformat()})
