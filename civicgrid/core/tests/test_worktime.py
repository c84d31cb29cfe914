from __future__ import annotations

import datetime as dt
import zoneinfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicgrid.core.errors import CoreError
from civicgrid.core.models import AuditRecord, CalendarDay
from civicgrid.core.services import calendar_day_set
from civicgrid.core.worktime import (
    WorkCalendar,
    clear_calendar_cache,
    is_workday,
    parse_work_periods,
    work_calendar,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PERIODS = "09:00-12:00,13:30-17:30"  # 3 h + 4 h = 420 minutes a day
CAL = WorkCalendar(periods=parse_work_periods(PERIODS), tz=SHANGHAI)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- work periods -------------------------------------------------------------------------


def test_parse_work_periods_reads_ordered_periods():
    # when
    periods = parse_work_periods(" 09:00-12:00, 13:30-17:30 ,")

    # then
    assert periods == (
        (dt.time(9, 0), dt.time(12, 0)),
        (dt.time(13, 30), dt.time(17, 30)),
    )
    assert WorkCalendar(periods=periods, tz=SHANGHAI).minutes_per_day == 420


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("9-12", "The work period “9-12” is not of the form HH:MM-HH:MM."),
        ("09:00", "The work period “09:00” is not of the form HH:MM-HH:MM."),
        (
            "09:00-12:00-13:00",
            "The work period “09:00-12:00-13:00” is not of the form HH:MM-HH:MM.",
        ),
        ("09:00-25:00", "The work period “09:00-25:00” is not of the form HH:MM-HH:MM."),
        (
            "12:00-09:00",
            "The work period “12:00-09:00” ends before it starts or overlaps the previous one.",
        ),
        (
            "09:00-09:00",
            "The work period “09:00-09:00” ends before it starts or overlaps the previous one.",
        ),
        (
            "09:00-12:00,11:00-17:00",
            "The work period “11:00-17:00” ends before it starts or overlaps the previous one.",
        ),
        (
            "13:00-17:00,09:00-12:00",
            "The work period “09:00-12:00” ends before it starts or overlaps the previous one.",
        ),
        ("", "At least one work period is needed."),
        (" , ", "At least one work period is needed."),
    ],
)
def test_parse_work_periods_rejects_bad_specs(spec, message):
    # when
    with pytest.raises(CoreError) as caught:
        parse_work_periods(spec)

    # then
    assert caught.value.code == "core.bad_work_periods"
    assert caught.value.message == message
    assert caught.value.field == "CIVICGRID_WORK_PERIODS"


@pytest.mark.django_db
def test_work_calendar_follows_the_settings(settings):
    # given
    settings.CIVICGRID_WORK_PERIODS = "09:00-11:00,13:00-17:00"
    settings.TIME_ZONE = "Asia/Shanghai"

    # when
    calendar = work_calendar()

    # then
    assert calendar.minutes_per_day == 360
    assert calendar.add_working_minutes(local(2025, 3, 3, 10, 0), 120) == local(2025, 3, 3, 14, 0)


# --- minutes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_minutes_across_the_lunch_break():
    # given Monday 2025-03-03, 11:30, half an hour before lunch
    start = local(2025, 3, 3, 11, 30)

    # when
    due = CAL.add_working_minutes(start, 60)

    # then 30 minutes before lunch, 30 after it
    assert due == local(2025, 3, 3, 14, 0)
    assert due.tzinfo == dt.UTC
    assert CAL.working_minutes_between(start, due) == 60


@pytest.mark.django_db
def test_minutes_ending_exactly_at_a_period_end_stay_there():
    assert CAL.add_working_minutes(local(2025, 3, 3, 11, 0), 60) == local(2025, 3, 3, 12, 0)


@pytest.mark.django_db
def test_minutes_from_outside_working_time_start_at_the_next_period():
    # lunch, evening and night
    assert CAL.add_working_minutes(local(2025, 3, 3, 12, 30), 10) == local(2025, 3, 3, 13, 40)
    assert CAL.add_working_minutes(local(2025, 3, 3, 20, 0), 10) == local(2025, 3, 4, 9, 10)
    assert CAL.add_working_minutes(local(2025, 3, 4, 3, 0), 10) == local(2025, 3, 4, 9, 10)
    # zero minutes from outside working time is the start itself
    assert CAL.add_working_minutes(local(2025, 3, 3, 20, 0), 0) == local(2025, 3, 3, 20, 0)


@pytest.mark.django_db
def test_minutes_across_a_weekend():
    # given Friday 2025-03-07 16:30
    start = local(2025, 3, 7, 16, 30)

    # when two hours of work are added
    due = CAL.add_working_minutes(start, 120)

    # then one hour on Friday, one on Monday morning
    assert due == local(2025, 3, 10, 10, 0)
    assert CAL.working_minutes_between(start, due) == 120
    assert CAL.working_minutes_between(local(2025, 3, 8, 9, 0), local(2025, 3, 9, 17, 0)) == 0


@pytest.mark.django_db
def test_a_utc_start_counts_in_local_working_time():
    # 2025-03-03 01:00 UTC is 09:00 in Shanghai
    start = dt.datetime(2025, 3, 3, 1, 0, tzinfo=dt.UTC)

    assert CAL.add_working_minutes(start, 30) == dt.datetime(2025, 3, 3, 1, 30, tzinfo=dt.UTC)


SPRING_FESTIVAL_2026 = [dt.date(2026, 2, 15) + dt.timedelta(days=i) for i in range(9)]
MAKE_UP_DAYS_2026 = [dt.date(2026, 2, 14), dt.date(2026, 2, 28)]


def test_the_package_knows_spring_festival_2026():
    # The facts the next tests rely on, checked against chinese_calendar itself.
    for day in SPRING_FESTIVAL_2026:
        assert chinese_calendar.is_workday(day) is False, day
        assert chinese_calendar.get_holiday_detail(day) == (True, "Spring Festival"), day
    for day in MAKE_UP_DAYS_2026:
        assert day.weekday() == 5  # both are Saturdays
        assert chinese_calendar.is_workday(day) is True, day
    assert chinese_calendar.is_workday(dt.date(2026, 2, 24)) is True
    assert chinese_calendar.is_workday(dt.date(2026, 3, 1)) is False


@pytest.mark.django_db
def test_minutes_across_spring_festival_2026():
    # given Friday 2026-02-13, 16:30
    start = local(2026, 2, 13, 16, 30)

    # when 2 h are added: 1 h on Friday, the rest on the make-up Saturday 02-14
    assert CAL.add_working_minutes(start, 120) == local(2026, 2, 14, 10, 0)
    # when the make-up Saturday is used up too, the next working time is Tuesday 02-24
    assert CAL.add_working_minutes(start, 60 + 420 + 30) == local(2026, 2, 24, 9, 30)
    # and the working minutes from Friday to the second make-up Saturday 02-28 count 7 days:
    # 02-13, 02-14, 02-24, 02-25, 02-26, 02-27, 02-28
    assert CAL.working_minutes_between(local(2026, 2, 13, 9, 0), local(2026, 3, 1, 23, 0)) == (
        7 * 420
    )
    assert CAL.working_minutes_between(local(2026, 2, 14, 17, 30), local(2026, 2, 24, 9, 0)) == 0


@pytest.mark.django_db
def test_minutes_between_is_negative_when_end_is_earlier():
    assert CAL.working_minutes_between(local(2025, 3, 3, 14, 0), local(2025, 3, 3, 11, 30)) == -60


@pytest.mark.django_db
@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf")])
def test_bad_minutes_are_refused(minutes):
    with pytest.raises(CoreError) as caught:
        CAL.add_working_minutes(local(2025, 3, 3, 9, 0), minutes)

    assert caught.value.code == "core.bad_calendar_input"
    assert caught.value.field == "minutes"


def test_naive_datetimes_are_refused():
    naive = dt.datetime(2025, 3, 3, 9, 0)
    aware = local(2025, 3, 3, 9, 0)

    for call in (
        lambda: CAL.add_working_minutes(naive, 10),
        lambda: CAL.working_minutes_between(naive, aware),
        lambda: CAL.working_minutes_between(aware, naive),
    ):
        with pytest.raises(CoreError) as caught:
            call()
        assert caught.value.code == "core.bad_calendar_input"
        assert caught.value.message == "Times must carry a time zone (aware datetimes)."


# --- days ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_disclosure_reply_is_due_after_twenty_working_days_with_make_up_days():
    # REFERENCE.md §5: received 2025-01-20, due 2025-02-21 (a weekends-only calendar: 02-25).
    assert CAL.add_working_days(dt.date(2025, 1, 20), 20) == dt.date(2025, 2, 21)


@pytest.mark.django_db
def test_add_working_days_skips_spring_festival_2026_and_counts_make_up_days():
    assert CAL.add_working_days(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)
    assert CAL.add_working_days(dt.date(2026, 2, 13), 2) == dt.date(2026, 2, 24)
    assert CAL.add_working_days(dt.date(2026, 2, 13), 0) == dt.date(2026, 2, 13)


def test_negative_days_are_refused():
    with pytest.raises(CoreError) as caught:
        CAL.add_working_days(dt.date(2025, 1, 20), -1)

    assert caught.value.code == "core.bad_calendar_input"
    assert caught.value.field == "days"


@pytest.mark.django_db
def test_a_year_the_package_lacks_falls_back_to_monday_to_friday():
    # given 2027, which chinesecalendar 1.11 does not know
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 1, 4))

    # when / then
    assert is_workday(dt.date(2027, 1, 4)) is True  # Monday
    assert is_workday(dt.date(2027, 1, 8)) is True  # Friday
    assert is_workday(dt.date(2027, 1, 9)) is False  # Saturday
    assert CAL.add_working_days(dt.date(2027, 1, 8), 1) == dt.date(2027, 1, 11)


@pytest.mark.django_db
def test_calendar_overrides_decide_for_a_year_the_package_lacks():
    # given a holiday on Monday 2027-01-04 and a make-up working Saturday 2027-01-09
    assert is_workday(dt.date(2027, 1, 4)) is True  # cached before the overrides exist
    calendar_day_set(actor=None, day=dt.date(2027, 1, 4), is_workday=False, note="New Year")
    calendar_day_set(actor=None, day=dt.date(2027, 1, 9), is_workday=True, note="make-up")

    # when
    clear_calendar_cache()

    # then
    assert is_workday(dt.date(2027, 1, 4)) is False
    assert is_workday(dt.date(2027, 1, 9)) is True
    assert CAL.add_working_days(dt.date(2027, 1, 1), 1) == dt.date(2027, 1, 5)
    assert CAL.add_working_days(dt.date(2027, 1, 8), 1) == dt.date(2027, 1, 9)
    assert CAL.add_working_minutes(local(2027, 1, 8, 17, 0), 60) == local(2027, 1, 9, 9, 30)
    assert list(CalendarDay.objects.values_list("day", "is_workday", "note")) == [
        (dt.date(2027, 1, 4), False, "New Year"),
        (dt.date(2027, 1, 9), True, "make-up"),
    ]
    assert list(AuditRecord.objects.values_list("action", "target_id", "data")) == [
        (
            "calendar.day_set",
            str(CalendarDay.objects.get(day=dt.date(2027, 1, 4)).pk),
            {"day": "2027-01-04", "is_workday": False, "note": "New Year"},
        ),
        (
            "calendar.day_set",
            str(CalendarDay.objects.get(day=dt.date(2027, 1, 9)).pk),
            {"day": "2027-01-09", "is_workday": True, "note": "make-up"},
        ),
    ]


@pytest.mark.django_db
def test_an_override_beats_the_official_calendar(django_capture_on_commit_callbacks):
    # given the make-up Saturday 2026-02-14, cancelled locally
    assert is_workday(dt.date(2026, 2, 14)) is True

    # when (the cache is cleared on commit)
    with django_capture_on_commit_callbacks(execute=True):
        calendar_day_set(actor=None, day=dt.date(2026, 2, 14), is_workday=False)

    # then
    assert is_workday(dt.date(2026, 2, 14)) is False


@pytest.mark.django_db
def test_setting_an_override_again_replaces_it():
    # given
    calendar_day_set(actor=None, day=dt.date(2027, 1, 4), is_workday=False, note="New Year")

    # when
    calendar_day_set(actor=None, day=dt.date(2027, 1, 4), is_workday=True, note="cancelled")

    # then
    assert list(CalendarDay.objects.values_list("day", "is_workday", "note")) == [
        (dt.date(2027, 1, 4), True, "cancelled")
    ]
    assert AuditRecord.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"day": dt.date(2027, 1, 4), "note": "x" * 101}, "note"),
        ({"day": dt.datetime(2027, 1, 4, tzinfo=dt.UTC)}, "day"),
        ({"day": "2027-01-04"}, "day"),
    ],
)
def test_bad_overrides_are_refused_and_nothing_is_written(kwargs, field):
    # when
    with pytest.raises(CoreError) as caught:
        calendar_day_set(actor=None, is_workday=False, **kwargs)

    # then
    assert caught.value.code == "core.bad_calendar_input"
    assert caught.value.field == field
    assert CalendarDay.objects.count() == 0
    assert AuditRecord.objects.count() == 0


# --- property -------------------------------------------------------------------------------


@st.composite
def instants_in_working_time(draw: st.DrawFn) -> dt.datetime:
    day = draw(
        st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 12, 31)).filter(
            chinese_calendar.is_workday
        )
    )
    offset = draw(st.integers(min_value=0, max_value=CAL.minutes_per_day - 1))
    second = draw(st.integers(min_value=0, max_value=59))
    for start, end in CAL.periods:
        length = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
        if offset < length:
            at = dt.datetime.combine(day, start, tzinfo=SHANGHAI)
            return at + dt.timedelta(minutes=offset, seconds=second)
        offset -= length
    raise AssertionError("offset beyond the working day")


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=instants_in_working_time(), minutes=st.integers(min_value=0, max_value=30 * 420))
def test_adding_minutes_and_counting_them_back_agree(start, minutes):
    due = CAL.add_working_minutes(start, minutes)

    assert due >= start
    assert CAL.working_minutes_between(start, due) == minutes
