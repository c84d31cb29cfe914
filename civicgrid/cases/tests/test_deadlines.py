"""Deadlines in working time across Spring Festival 2026 (holiday 15–23 Feb, make-up working
Saturdays 14 and 28 Feb); holds pause the clock; extensions move it; escalation happens once."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import chinese_calendar
import pytest
import time_machine

from civicgrid.cases import services as s
from civicgrid.cases.models import Action, Light, Trace

from .factories import build_world, photo, submit

pytestmark = pytest.mark.django_db
CST = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CST)


def dispatched_at(w, when: dt.datetime, **kw):
    with time_machine.travel(when, tick=False):
        case = submit(w, **kw)
        s.case_accept(actor=w.users["operator"], case=case)
        s.case_file(actor=w.users["shift_leader"], case=case)
        s.case_dispatch(actor=w.users["dispatcher"], case=case)
    case.refresh_from_db()
    return case


def test_the_official_calendar_has_the_make_up_days():
    assert chinese_calendar.is_workday(dt.date(2026, 2, 14))  # Saturday, make-up working day
    assert not chinese_calendar.is_workday(dt.date(2026, 2, 17))  # Spring Festival
    assert not chinese_calendar.is_workday(dt.date(2026, 2, 23))
    assert chinese_calendar.is_workday(dt.date(2026, 2, 24))


def test_one_working_day_from_friday_afternoon_ends_on_the_make_up_saturday():
    # given a normal case dispatched on Friday 13 Feb 2026 at 16:00 (1 working day = 420 min)
    w = build_world()
    # when
    case = dispatched_at(w, at(2026, 2, 13, 16, 0))
    # then 90 min on Friday + 330 min on the make-up Saturday 14 Feb
    assert case.deadline_at == at(2026, 2, 14, 16, 0)
    assert case.disposal_deadline_at == case.deadline_at


def test_one_working_day_from_the_make_up_saturday_evening_skips_the_holiday():
    w = build_world()
    case = dispatched_at(w, at(2026, 2, 14, 17, 45))
    # the next working day after the holiday (15–23 Feb) is Tuesday 24 Feb
    assert case.deadline_at == at(2026, 2, 24, 17, 30)


def test_urgent_cases_run_on_the_natural_clock():
    w = build_world()
    case = dispatched_at(w, at(2026, 2, 16, 22, 0), urgency="urgent")
    assert case.deadline_at == at(2026, 2, 17, 0, 0)


def test_hold_over_the_holiday_keeps_the_remaining_time():
    # given dispatched Friday 13 Feb 10:00: deadline Saturday 14 Feb 10:00
    w = build_world()
    case = dispatched_at(w, at(2026, 2, 13, 10, 0))
    assert case.deadline_at == at(2026, 2, 14, 10, 0)
    # when held at 11:00 on Friday (360 working minutes left) ...
    with time_machine.travel(at(2026, 2, 13, 11, 0), tick=False):
        s.case_hold_request(actor=w.users["clean_handler"], case=case, reason="等待供电部门")
        s.case_hold_decide(actor=w.users["shift_leader"], case=case, approve=True)
    case.refresh_from_db()
    assert case.is_on_hold
    assert case.hold_remaining_minutes == 360
    # ... and the sweep during the holiday does not escalate a held case
    assert s.case_escalate_overdue(now=at(2026, 2, 20, 12, 0)) == 0
    # ... and resumed on Tuesday 24 Feb at 09:00
    with time_machine.travel(at(2026, 2, 24, 9, 0), tick=False):
        s.case_resume(actor=w.users["clean_handler"], case=case)
    # then the 360 minutes run from then: 180 in the morning, 180 after 13:30
    case.refresh_from_db()
    assert not case.is_on_hold
    assert case.deadline_at == at(2026, 2, 24, 16, 30)
    assert case.light(now=at(2026, 2, 24, 9, 30)) == Light.GREEN


def test_an_approved_extension_moves_the_deadline_by_working_time():
    w = build_world()
    case = dispatched_at(w, at(2026, 3, 2, 9, 0))  # Monday
    assert case.deadline_at == at(2026, 3, 2, 17, 30)
    with time_machine.travel(at(2026, 3, 2, 15, 0), tick=False):
        s.case_extension_request(
            actor=w.users["clean_handler"], case=case, extra_minutes=420, reason="需要吊车"
        )
        s.case_extension_decide(actor=w.users["supervisor"], case=case, approve=True)
    case.refresh_from_db()
    assert case.deadline_at == at(2026, 3, 3, 17, 30)
    assert case.extension_count == 1


def test_extensions_are_capped(settings):
    settings.CIVICGRID_MAX_EXTENSIONS = 1
    w = build_world()
    case = dispatched_at(w, at(2026, 3, 2, 9, 0))
    with time_machine.travel(at(2026, 3, 2, 10, 0), tick=False):
        s.case_extension_request(
            actor=w.users["clean_handler"], case=case, extra_minutes=60, reason="r"
        )
        s.case_extension_decide(actor=w.users["supervisor"], case=case, approve=True)
        with pytest.raises(s.CaseError) as err:
            s.case_extension_request(
                actor=w.users["clean_handler"], case=case, extra_minutes=60, reason="again"
            )
    assert err.value.code == "cases.extension_limit"


def test_traffic_light_turns_yellow_at_80_percent_and_red_after_the_limit():
    w = build_world()
    case = dispatched_at(w, at(2026, 3, 2, 9, 0))  # 420 working minutes, due 17:30
    assert case.light(now=at(2026, 3, 2, 9, 1)) == Light.GREEN
    # 80 % = 336 min: 180 in the morning + 156 after 13:30 = 16:06
    assert case.warning_at == at(2026, 3, 2, 16, 6)
    assert case.light(now=at(2026, 3, 2, 16, 10)) == Light.YELLOW
    assert case.light(now=at(2026, 3, 2, 17, 31)) == Light.RED


def test_overdue_escalation_happens_once_even_when_the_sweep_runs_twice():
    w = build_world()
    case = dispatched_at(w, at(2026, 3, 2, 9, 0))
    assert s.case_escalate_overdue(now=at(2026, 3, 2, 17, 0)) == 0
    assert s.case_escalate_overdue(now=at(2026, 3, 2, 17, 31)) == 1
    assert s.case_escalate_overdue(now=at(2026, 3, 2, 18, 0)) == 0
    assert Trace.objects.filter(case=case, action=Action.ESCALATE).count() == 1


def test_processing_late_is_recorded_on_the_trace():
    w = build_world()
    case = dispatched_at(w, at(2026, 3, 2, 9, 0))
    with time_machine.travel(at(2026, 3, 3, 10, 0), tick=False):
        s.case_process(actor=w.users["clean_handler"], case=case, note="done", photos=[photo()])
    case.refresh_from_db()
    assert case.was_disposal_late
    process = case.traces.get(action=Action.PROCESS)
    assert process.on_time is False
    assert process.deadline_at == at(2026, 3, 2, 17, 30)
