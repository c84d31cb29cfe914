"""W3C date-times (the ISO 8601 profile Open311 and feeds use): strict parsing and formatting.

A W3C date-time always carries its zone (``Z`` or ``±hh:mm``); a value without one is refused
rather than guessed, because "09:00" in Beijing and in UTC are eight hours apart.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from django.utils.translation import gettext as _

# YYYY-MM-DDThh:mm[:ss[.s+]]TZD, TZD = Z | +hh:mm | -hh:mm (the W3C NOTE-datetime profile).
_W3_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})$"
)


class W3DateTimeError(ValueError):
    """The value is not a W3C date-time with a zone; the message says why."""


def parse_w3_datetime(value: str) -> dt.datetime:
    """Parse ``2026-11-28T09:30:00+08:00`` (seconds and fractions optional, ``Z`` allowed).

    Returns an aware datetime. Raises :class:`W3DateTimeError` for anything else, including a
    date-time without a zone, a date alone and impossible dates such as February 30th.
    """
    text = (value or "").strip()
    match = _W3_RE.match(text)
    if match is None:
        if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", text):
            raise W3DateTimeError(_("the date-time has no time zone (add Z or +08:00)"))
        raise W3DateTimeError(_("not a W3C date-time such as 2026-11-28T09:30:00+08:00"))
    tz = match["tz"]
    iso = f"{match['date']}T{match['h']}:{match['m']}:{match['s'] or '00'}"
    if match["frac"]:
        iso += "." + match["frac"][:6].ljust(6, "0")
    iso += "+00:00" if tz == "Z" else tz
    try:
        parsed = dt.datetime.fromisoformat(iso)
    except ValueError:
        raise W3DateTimeError(_("impossible date or time")) from None
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > dt.timedelta(hours=14):
        raise W3DateTimeError(_("the time zone offset is beyond ±14:00"))
    return parsed


def format_w3_datetime(value: dt.datetime | None) -> str:
    """``2026-11-28T09:30:00+08:00`` in the current time zone, to the second; ``""`` for None.

    A W3C zone is whole minutes; historical local-mean-time offsets (Shanghai before 1901 was
    +08:05:43) are not, so such instants are written in UTC (``Z``) instead.
    """
    if value is None:
        return ""
    local = timezone.localtime(value).replace(microsecond=0)
    offset = local.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return local.isoformat()
