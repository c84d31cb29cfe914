"""W3C date-times: strict parsing (a zone is required) and formatting in the local zone."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.core.datetimes import W3DateTimeError, format_w3_datetime, parse_w3_datetime

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T09:30:00+08:00", dt.datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),
        ("2026-11-28T01:30:00Z", dt.datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),
        ("2026-11-28T01:30Z", dt.datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),
        ("2026-11-28T01:30:05.25-05:00", dt.datetime(2026, 11, 28, 6, 30, 5, 250000, tzinfo=UTC)),
        (" 2026-11-28T01:30:00Z ", dt.datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),
    ],
)
def test_parses_w3_datetimes_with_a_zone(text: str, expected: dt.datetime) -> None:
    assert parse_w3_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-28T09:30:00", "no time zone"),
        ("2026-11-28T09:30", "no time zone"),
        ("2026-11-28", "not a W3C date-time"),
        ("28/11/2026 09:30", "not a W3C date-time"),
        ("", "not a W3C date-time"),
        ("2026-02-30T09:30:00Z", "impossible date"),
        ("2026-11-28T25:00:00Z", "impossible date"),
        ("2026-11-28T09:30:00+15:00", "beyond"),
        ("2026-11-28T09:30:00+0800", "not a W3C date-time"),
    ],
)
def test_refuses_anything_else_and_says_why(text: str, reason: str) -> None:
    with pytest.raises(W3DateTimeError, match=reason):
        parse_w3_datetime(text)


def test_formats_in_the_local_zone_to_the_second(settings) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    value = dt.datetime(2026, 11, 28, 1, 30, 5, 999999, tzinfo=UTC)
    assert format_w3_datetime(value) == "2026-11-28T09:30:05+08:00"
    assert format_w3_datetime(None) == ""


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=8))]),
    )
)
def test_formatted_values_parse_back_to_the_same_second(value: dt.datetime) -> None:
    assert parse_w3_datetime(format_w3_datetime(value)) == value.replace(microsecond=0)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_the_one_error(text: str) -> None:
    try:
        parsed = parse_w3_datetime(text)
    except W3DateTimeError:
        return
    assert parsed.tzinfo is not None
