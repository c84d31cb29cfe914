from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from civicgrid.core.models import AuditHeadPublication, AuditRecord
from civicgrid.core.periodic import load_jobs, run_periodic_forever
from civicgrid.core.services import audit_record
from civicgrid.core.tasks import publish_audit_head_task, seal_audit_task

CALLS: list[str] = []


def count_call() -> None:
    CALLS.append("ok")


def always_fail() -> None:
    CALLS.append("failed")
    raise RuntimeError("boom")


@pytest.mark.django_db
def test_seal_audit_task_seals_through_the_task_backend():
    # given
    audit_record(actor=None, action="test.a")

    # when
    result = seal_audit_task.enqueue()

    # then (the test settings run tasks immediately)
    assert result.return_value == 1
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 0


@pytest.mark.django_db
def test_publish_audit_head_task_publishes_once():
    # given
    row = audit_record(actor=None, action="test.a")

    # when
    first = publish_audit_head_task.enqueue()
    second = publish_audit_head_task.enqueue()

    # then
    assert (first.return_value, second.return_value) == (row.pk, row.pk)
    assert AuditHeadPublication.objects.count() == 1


def test_the_default_jobs_are_importable(settings):
    jobs = load_jobs()  # every configured job imports; other apps append theirs

    assert [(j.path, j.interval_s) for j in jobs][:2] == [
        ("civicgrid.core.services.audit_seal", float(settings.CIVICGRID_SEAL_INTERVAL_S)),
        ("civicgrid.core.services.audit_publish_head", 3600.0),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([("civicgrid.core.nothing_here", 5)], "cannot be imported"),
        ([("civicgrid.core.services.GENESIS_HASH", 5)], "is not callable"),
        ([("civicgrid.core.services.audit_seal", 0)], "needs an interval above zero"),
        ([("civicgrid.core.services.audit_seal",)], "is not (dotted path, seconds)"),
    ],
)
def test_bad_job_settings_fail_at_start(spec, message):
    with pytest.raises(ImproperlyConfigured) as caught:
        load_jobs(spec)

    assert message in str(caught.value)


def test_periodic_loop_runs_jobs_when_due_survives_failures_and_stops():
    # given
    CALLS.clear()
    jobs = load_jobs(
        [
            (f"{__name__}.always_fail", 0.05),
            (f"{__name__}.count_call", 0.05),
        ]
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_periodic_forever, args=(stop, jobs))

    # when
    thread.start()
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=2)

    # then
    assert not thread.is_alive()
    assert CALLS.count("failed") >= 3  # kept failing, kept running
    assert CALLS.count("ok") >= 3
    assert abs(CALLS.count("ok") - CALLS.count("failed")) <= 1
