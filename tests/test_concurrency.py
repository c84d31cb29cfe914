"""Racing transitions on PostgreSQL: exactly one winner, no doubled trace or audit rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from civicgrid.cases import services as s
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Action, Case, Status, Trace
from civicgrid.cases.tests.factories import build_world, submit
from civicgrid.core.models import AuditRecord

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are exercised on PostgreSQL"
    ),
]


def race(n: int, call: Callable[[], Any]) -> tuple[int, list[str]]:
    """Run ``call`` in ``n`` threads released together; returns (successes, error codes)."""
    barrier = threading.Barrier(n)
    wins: list[int] = []
    codes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            call()
            with lock:
                wins.append(1)
        except CaseError as err:
            with lock:
                codes.append(err.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return len(wins), codes


def test_ten_operators_accepting_the_same_case_make_one_transition():
    # given
    w = build_world()
    case = submit(w)
    audit_before = AuditRecord.objects.count()
    # when
    wins, codes = race(10, lambda: s.case_accept(actor=w.users["operator"], case=case))
    # then
    assert wins == 1
    assert codes == ["cases.wrong_state"] * 9
    assert Case.objects.get(pk=case.pk).status == Status.ACCEPTED
    assert Trace.objects.filter(case=case, action=Action.ACCEPT).count() == 1
    assert AuditRecord.objects.count() == audit_before + 1


def test_racing_sweeps_escalate_a_step_once():
    import datetime as dt

    w = build_world()
    case = submit(w)
    case.refresh_from_db()
    assert case.deadline_at is not None
    later = case.deadline_at + dt.timedelta(minutes=1)
    counts: list[int] = []
    wins, codes = race(6, lambda: counts.append(s.case_escalate_overdue(now=later)))
    assert wins == 6 and codes == []
    assert sum(counts) == 1
    assert Trace.objects.filter(case=case, action=Action.ESCALATE).count() == 1


def test_idempotent_submissions_racing_with_one_key_make_one_case():
    w = build_world()
    results: list[int] = []

    def send() -> None:
        sub = s.case_submit(
            actor=w.users["resident"],
            category="E0101",
            description="同一个上报重试了多次",
            lat=w.inside_lat,
            lng=w.inside_lng,
            submission_key="retry-key-1",
        )
        results.append(sub.case.pk)

    wins, codes = race(8, send)
    assert wins == 8 and codes == []
    assert len(set(results)) == 1
    assert Case.objects.filter(submission_key="retry-key-1").count() == 1
