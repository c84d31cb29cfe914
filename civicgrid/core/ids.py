"""Identifiers: per-day sequence numbers taken from a counter row, never from a table scan."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import DailyCounter


def next_daily_sequence(*, name: str, day: dt.date) -> int:
    """Return the next number of the day's sequence ``name`` (1, 2, ...).

    Atomic under concurrency: an UPDATE ... SET value = value + 1 takes the row lock, so two
    callers never get the same number. Must run inside the caller's transaction so that a
    rolled-back caller does not leave a hole-free guarantee broken (holes are acceptable).
    """
    for _attempt in range(3):
        updated = DailyCounter.objects.filter(name=name, day=day).update(value=F("value") + 1)
        if updated:
            return DailyCounter.objects.values_list("value", flat=True).get(name=name, day=day)
        try:
            with transaction.atomic():
                DailyCounter.objects.create(name=name, day=day, value=1)
            return 1
        except IntegrityError:
            continue  # another transaction created the row first; increment it instead
    raise RuntimeError(f"could not take a number from counter {name} {day}")
