"""The closed loop through the services: every step, its trace row and its audit record."""

from __future__ import annotations

import pytest
from django.utils import timezone

from civicgrid.accounts.models import Notification
from civicgrid.cases import services as s
from civicgrid.cases.models import Action, Case, Rating, Satisfaction, Status, Trace
from civicgrid.core.models import AuditRecord

from .factories import build_world, photo, submit

pytestmark = pytest.mark.django_db


def test_full_loop_writes_one_trace_per_step():
    # given
    w = build_world()
    u = w.users
    # when
    case = submit(w)
    s.case_accept(actor=u["operator"], case=case, note="受理")
    s.case_file(actor=u["shift_leader"], case=case)
    s.case_dispatch(actor=u["dispatcher"], case=case)
    s.case_start(actor=u["clean_handler"], case=case)
    s.case_process(actor=u["clean_handler"], case=case, note="已清运", photos=[photo()])
    s.case_check_start(actor=u["grid_worker"], case=case)
    s.case_check_finish(actor=u["grid_worker"], case=case, passed=True, note="现场已清理")
    s.case_rate(
        actor=u["resident"], case=case, satisfaction=Satisfaction.VERY_SATISFIED, resolved=True
    )
    # then
    case.refresh_from_db()
    assert case.status == Status.EVALUATED
    assert case.unit == w.units["clean"]
    assert case.first_unit == w.units["clean"]
    assert list(case.traces.order_by("id").values_list("action", "from_status", "to_status")) == [
        (Action.SUBMIT, "", Status.REPORTED),
        (Action.ACCEPT, Status.REPORTED, Status.ACCEPTED),
        (Action.FILE, Status.ACCEPTED, Status.FILED),
        (Action.DISPATCH, Status.FILED, Status.DISPATCHED),
        (Action.START, Status.DISPATCHED, Status.PROCESSING),
        (Action.PROCESS, Status.PROCESSING, Status.PROCESSED),
        (Action.CHECK_START, Status.PROCESSED, Status.CHECKING),
        (Action.CHECK_PASS, Status.CHECKING, Status.CLOSED),
        (Action.RATE, Status.CLOSED, Status.EVALUATED),
    ]
    assert (
        AuditRecord.objects.filter(target_id=str(case.pk), action__startswith="case.").count() == 9
    )
    assert case.photos.count() == 1
    assert Rating.objects.get(case=case).satisfaction == Satisfaction.VERY_SATISFIED
    assert case.deadline_at is None


def test_case_numbers_are_date_plus_daily_sequence():
    w = build_world()
    first = submit(w)
    second = submit(w)
    assert first.number[:8] == second.number[:8]
    assert int(second.number[8:]) == int(first.number[8:]) + 1
    assert len(first.number) == 12


def test_routing_falls_back_to_category_default_unit():
    w = build_world()
    case = submit(w, category=w.categories["manhole"])
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    s.case_dispatch(actor=w.users["dispatcher"], case=case)
    case.refresh_from_db()
    assert case.unit == w.units["city"]


def test_verify_step_between_accept_and_file():
    w = build_world()
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_verify(actor=w.users["grid_worker"], case=case, note="属实", photos=[photo()])
    s.case_file(actor=w.users["shift_leader"], case=case)
    case.refresh_from_db()
    assert case.status == Status.FILED
    assert case.traces.filter(action=Action.VERIFY).count() == 1


def _dispatched(w, category="garbage"):
    case = submit(w, category=w.categories[category])
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    s.case_dispatch(actor=w.users["dispatcher"], case=case)
    case.refresh_from_db()
    return case


def test_failed_check_is_rework_to_the_same_unit():
    w = build_world()
    case = _dispatched(w)
    s.case_process(actor=w.users["clean_handler"], case=case, note="done", photos=[photo()])
    s.case_check_start(actor=w.users["grid_worker"], case=case)
    s.case_check_finish(actor=w.users["grid_worker"], case=case, passed=False, note="还有垃圾")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.unit == w.units["clean"]
    assert case.rework_count == 1
    assert case.traces.filter(action=Action.CHECK_FAIL).count() == 1


def test_return_approved_then_dispatch_elsewhere_counts_a_transfer():
    w = build_world()
    case = _dispatched(w)
    s.case_return_request(actor=w.users["clean_handler"], case=case, reason="不属于环卫范围")
    s.case_return_decide(actor=w.users["dispatcher"], case=case, approve=True)
    case.refresh_from_db()
    assert case.status == Status.FILED
    assert case.unit is None
    assert case.return_count == 1
    s.case_dispatch(actor=w.users["dispatcher"], case=case, unit=w.units["city"], reason="城管负责")
    case.refresh_from_db()
    assert case.unit == w.units["city"]
    assert case.transfer_count == 1
    assert case.first_unit == w.units["clean"]


def test_transfers_past_the_limit_need_the_street_office():
    # given two transfers already made
    w = build_world()
    case = _dispatched(w)
    s.case_transfer(actor=w.users["dispatcher"], case=case, unit="dept-city", reason="r1")
    s.case_transfer(actor=w.users["dispatcher"], case=case, unit="lights-co", reason="r2")
    case.refresh_from_db()
    traces_before = case.traces.count()
    audit_before = AuditRecord.objects.count()
    # when the dispatcher tries a third
    with pytest.raises(s.CaseError) as err:
        s.case_transfer(actor=w.users["dispatcher"], case=case, unit="clean-co", reason="r3")
    # then it is refused and nothing changed
    assert err.value.code == "cases.transfer_limit"
    case.refresh_from_db()
    assert case.unit == w.units["lights"]
    assert case.transfer_count == 2
    assert case.traces.count() == traces_before
    assert AuditRecord.objects.count() == audit_before
    # and the street office's supervisor may decide
    s.case_transfer(actor=w.users["supervisor"], case=case, unit="clean-co", reason="街道裁定")
    case.refresh_from_db()
    assert case.unit == w.units["clean"]
    assert case.transfer_count == 3


def test_self_handle_and_review():
    w = build_world()
    case = submit(w, actor=w.users["grid_worker"], source="patrol")
    s.case_self_handle(
        actor=w.users["grid_worker"], case=case, note="现场清理", before=[photo()], after=[photo()]
    )
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.is_self_handled
    assert case.photos.count() == 2
    s.case_self_handle_review(actor=w.users["shift_leader"], case=case, approve=True)
    assert case.traces.filter(action=Action.SELF_HANDLE_APPROVE).count() == 1


def test_cancel_duplicate_makes_the_reporter_a_follower():
    w = build_world()
    original = submit(w)
    dup = submit(w, actor=w.users["resident2"])
    s.case_cancel(actor=w.users["operator"], case=dup, reason="duplicate", duplicate_of=original)
    dup.refresh_from_db()
    original.refresh_from_db()
    assert dup.status == Status.CANCELLED
    assert dup.duplicate_of == original
    assert original.follower_count == 1


def test_follow_raises_follower_count_once():
    w = build_world()
    case = submit(w)
    s.case_follow(actor=w.users["resident2"], case=case)
    with pytest.raises(s.CaseError) as err:
        s.case_follow(actor=w.users["resident2"], case=case)
    assert err.value.code == "cases.already_following"
    case.refresh_from_db()
    assert case.follower_count == 1


def test_callback_rating_by_operator():
    w = build_world()
    case = _dispatched(w)
    s.case_process(actor=w.users["clean_handler"], case=case, note="done", photos=[photo()])
    s.case_check_start(actor=w.users["grid_worker"], case=case)
    s.case_check_finish(actor=w.users["grid_worker"], case=case, passed=True)
    rating = s.case_rate(
        actor=w.users["operator"],
        case=case,
        satisfaction="basically_satisfied",
        resolved=True,
        contacted=True,
    )
    assert rating.is_callback is True


def test_escalation_notifies_supervisor_once():
    import datetime as dt

    w = build_world()
    case = _dispatched(w)
    later = case.deadline_at + dt.timedelta(minutes=1)
    assert s.case_escalate_overdue(now=later) == 1
    assert s.case_escalate_overdue(now=later) == 0
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    assert Trace.objects.filter(case=case, action=Action.ESCALATE).count() == 1
    assert Notification.objects.filter(user=w.users["supervisor"]).count() == 1
    assert Case.objects.get(pk=case.pk).light(now=later) == "red"


def test_an_escalation_notice_stores_the_event_and_reads_in_each_readers_language():
    import datetime as dt

    from django.utils import translation

    # given a case escalated while the escalating process ran in Chinese
    w = build_world()
    case = _dispatched(w)
    with translation.override("zh-hans"):
        s.case_escalate_overdue(now=case.deadline_at + dt.timedelta(minutes=1))
    note = Notification.objects.get(user=w.users["supervisor"])

    # then the row holds what happened, not a sentence
    assert note.event == "case.overdue"
    assert note.params == {"number": case.number, "status": "dispatched"}

    # and each reader reads it in their own language
    with translation.override("en"):
        assert note.text == f"Case {case.number} is overdue (Dispatched)."
    with translation.override("zh-hans"):
        assert note.text == f"案件 {case.number} 已超期（已派遣）。"


def test_a_notification_of_an_unknown_event_reads_as_its_code_and_old_rows_as_their_sentence():
    w = build_world()
    user = w.users["supervisor"]
    now = timezone.now()
    unknown = Notification.objects.create(user=user, event="gone.app", params={}, created_at=now)
    broken = Notification.objects.create(user=user, event="case.overdue", params={}, created_at=now)
    legacy = Notification.objects.create(
        user=user, event="legacy.message", params={"message": "案件 1 已超时"}, created_at=now
    )

    assert unknown.text == "gone.app"
    assert broken.text == "case.overdue"
    assert legacy.text == "案件 1 已超时"
