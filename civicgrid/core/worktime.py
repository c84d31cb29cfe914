"""Working time (工作时间): work periods, official holidays and make-up working days (调休).

Deadlines in this domain are counted in working time. A day is a working day when a manual
override (:class:`~civicgrid.core.models.CalendarDay`) says so; otherwise the official calendar
of the ``chinese-calendar`` package decides; for years it does not know yet, Monday to Friday
are working days until the overrides for that year are entered (a warning is logged once).

Within a working day only the configured work periods count (``CIVICGRID_WORK_PERIODS``,
e.g. ``09:00-12:00,13:30-17:30``), in the deployment's time zone.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

import chinese_calendar
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .errors import CoreError

logger = logging.getLogger(__name__)

_OVERRIDES_TTL_S = 30.0
_lock = threading.Lock()
_overrides: dict[dt.date, bool] | None = None
_overrides_loaded_at = 0.0
_warned_years: set[int] = set()


def parse_work_periods(spec: str) -> tuple[tuple[dt.time, dt.time], ...]:
    """Parse ``"09:00-12:00,13:30-17:30"``; periods must be ordered and must not overlap."""
    periods: list[tuple[dt.time, dt.time]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            start_s, end_s = part.split("-")
            start = dt.time.fromisoformat(start_s.strip())
            end = dt.time.fromisoformat(end_s.strip())
        except ValueError as exc:
            raise CoreError(
                CoreError.Code.BAD_WORK_PERIODS,
                _("The work period “%(period)s” is not of the form HH:MM-HH:MM.")
                % {"period": part},
                field="CIVICGRID_WORK_PERIODS",
            ) from exc
        if end <= start or (periods and start < periods[-1][1]):
            raise CoreError(
                CoreError.Code.BAD_WORK_PERIODS,
                _(
                    "The work period “%(period)s” ends before it starts or overlaps the"
                    " previous one."
                )
                % {"period": part},
                field="CIVICGRID_WORK_PERIODS",
            )
        periods.append((start, end))
    if not periods:
        raise CoreError(
            CoreError.Code.BAD_WORK_PERIODS,
            _("At least one work period is needed."),
            field="CIVICGRID_WORK_PERIODS",
        )
    return tuple(periods)


def clear_calendar_cache() -> None:
    """Forget the cached overrides and calendars (after an override changes, and in tests)."""
    global _overrides
    with _lock:
        _overrides = None
    _calendar.cache_clear()


def _load_overrides() -> dict[dt.date, bool]:
    global _overrides, _overrides_loaded_at
    now = time.monotonic()
    with _lock:
        if _overrides is not None and now - _overrides_loaded_at < _OVERRIDES_TTL_S:
            return _overrides
    from .models import CalendarDay

    loaded = dict(CalendarDay.objects.values_list("day", "is_workday"))
    with _lock:
        _overrides = loaded
        _overrides_loaded_at = now
    return loaded


def is_workday(day: dt.date) -> bool:
    """True when ``day`` is a working day (override, else official calendar, else Mon-Fri)."""
    overrides = _load_overrides()
    if day in overrides:
        return overrides[day]
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            logger.warning(
                "No official calendar for %s: counting Monday-Friday until overrides are entered",
                day.year,
            )
        return day.weekday() < 5


@dataclass(frozen=True)
class WorkCalendar:
    periods: tuple[tuple[dt.time, dt.time], ...]
    tz: zoneinfo.ZoneInfo

    @property
    def minutes_per_day(self) -> int:
        return sum(
            (dt.datetime.combine(dt.date.min, e) - dt.datetime.combine(dt.date.min, s)).seconds
            // 60
            for s, e in self.periods
        )

    def _day_windows(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if not is_workday(day):
            return []
        return [
            (
                dt.datetime.combine(day, s, tzinfo=self.tz),
                dt.datetime.combine(day, e, tzinfo=self.tz),
            )
            for s, e in self.periods
        ]

    def add_working_minutes(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """The instant at which ``minutes`` of working time have passed since ``start``.

        Starting outside working time counts from the next work period. Zero minutes from
        outside working time gives ``start`` itself.
        """
        _require_aware(start)
        if not math.isfinite(minutes) or minutes < 0:
            raise CoreError(
                CoreError.Code.BAD_CALENDAR_INPUT,
                _("The number of minutes must be a finite number, zero or more."),
                field="minutes",
            )
        if minutes == 0:
            return start
        remaining = dt.timedelta(minutes=minutes)
        local = start.astimezone(self.tz)
        day = local.date()
        for _day_index in range(3700):  # ten years of days: a guard, not a limit anyone reaches
            for w_start, w_end in self._day_windows(day):
                if w_end <= local:
                    continue
                begin = max(w_start, local)
                available = w_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(dt.UTC)
                remaining -= available
            day += dt.timedelta(days=1)
        raise CoreError(
            CoreError.Code.NO_CALENDAR_DATA, _("No working time was found in ten years.")
        )

    def working_minutes_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working minutes from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        _require_aware(start)
        _require_aware(end)
        if end < start:
            return -self.working_minutes_between(end, start)
        a = start.astimezone(self.tz)
        b = end.astimezone(self.tz)
        total = dt.timedelta()
        day = a.date()
        while day <= b.date():
            for w_start, w_end in self._day_windows(day):
                lo = max(w_start, a)
                hi = min(w_end, b)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return total.total_seconds() / 60

    def add_working_days(self, day: dt.date, days: int) -> dt.date:
        """The date ``days`` working days after ``day`` (the day itself not counted)."""
        if days < 0:
            raise CoreError(
                CoreError.Code.BAD_CALENDAR_INPUT,
                _("The number of days must not be negative."),
                field="days",
            )
        current = day
        counted = 0
        limit = day + dt.timedelta(days=3700 + 2 * days)  # a guard, as in add_working_minutes
        while counted < days:
            current += dt.timedelta(days=1)
            if current > limit:
                raise CoreError(
                    CoreError.Code.NO_CALENDAR_DATA, _("No working time was found in ten years.")
                )
            if is_workday(current):
                counted += 1
        return current

    def end_of_working_day(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.periods[-1][1], tzinfo=self.tz).astimezone(dt.UTC)


@lru_cache(maxsize=4)
def _calendar(spec: str, tz_name: str) -> WorkCalendar:
    return WorkCalendar(periods=parse_work_periods(spec), tz=zoneinfo.ZoneInfo(tz_name))


def work_calendar() -> WorkCalendar:
    """The deployment's calendar, built from settings (cached per settings value)."""
    return _calendar(settings.CIVICGRID_WORK_PERIODS, settings.TIME_ZONE)


def _require_aware(value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CoreError(
            CoreError.Code.BAD_CALENDAR_INPUT,
            _("Times must carry a time zone (aware datetimes)."),
        )
