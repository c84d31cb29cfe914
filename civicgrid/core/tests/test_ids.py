from __future__ import annotations

import datetime as dt

import pytest

from civicgrid.core.ids import next_daily_sequence
from civicgrid.core.models import DailyCounter

pytestmark = pytest.mark.django_db


def test_daily_sequence_counts_per_name_and_day():
    # given
    monday, tuesday = dt.date(2026, 3, 2), dt.date(2026, 3, 3)

    # when
    numbers = [
        next_daily_sequence(name="case", day=monday),
        next_daily_sequence(name="case", day=monday),
        next_daily_sequence(name="case", day=tuesday),
        next_daily_sequence(name="case", day=monday),
        next_daily_sequence(name="application", day=monday),
        next_daily_sequence(name="case", day=tuesday),
    ]

    # then
    assert numbers == [1, 2, 1, 3, 1, 2]
    assert sorted(DailyCounter.objects.values_list("name", "day", "value")) == [
        ("application", monday, 1),
        ("case", monday, 3),
        ("case", tuesday, 2),
    ]
