"""Stuck-task recovery (civicgrid/core/task_recovery.py) on real django-tasks-db rows."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max

from civicgrid.core import task_recovery
from civicgrid.core.models import AuditRecord
from civicgrid.core.runtime import Background, ThreadedDbWorker
from civicgrid.core.services import audit_record
from civicgrid.core.task_recovery import (
    new_worker_id,
    stuck_task_count,
    task_lease_seconds,
    task_recover_stuck,
)

SEAL_TASK = "civicgrid.core.tasks.seal_audit_task"
HOST = task_recovery._host()


def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def task_row(
    *,
    worker_id: str,
    started_s_ago: float,
    status: str = TaskResultStatus.RUNNING,
    task_path: str = SEAL_TASK,
) -> DBTaskResult:
    now = timezone.now()
    return DBTaskResult.objects.create(
        status=status,
        args_kwargs={"args": [], "kwargs": {}},
        task_path=task_path,
        backend_name="default",
        queue_name="default",
        run_after=get_date_max(),
        started_at=now - dt.timedelta(seconds=started_s_ago),
        finished_at=now
        if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
        else None,
        worker_ids=[worker_id],
    )


def state(row: DBTaskResult) -> tuple[str, dt.datetime | None, list[str]]:
    row.refresh_from_db()
    return row.status, row.started_at, row.worker_ids


@pytest.mark.django_db
def test_a_task_of_a_dead_worker_on_this_host_is_queued_again_at_once(caplog):
    # given a task claimed 5 s ago by a worker process that no longer exists
    worker_id = f"cg:{HOST}:{dead_pid()}:deadbeef0001"
    row = task_row(worker_id=worker_id, started_s_ago=5)

    # when
    with caplog.at_level(logging.WARNING, logger="civicgrid.core.task_recovery"):
        recovered = task_recover_stuck()

    # then it is ready again, keeps its history, and one warning names it
    assert [(t.id, t.task_path, t.worker_id, t.reason) for t in recovered] == [
        (str(row.pk), SEAL_TASK, worker_id, "worker process gone")
    ]
    assert state(row) == (TaskResultStatus.READY, None, [worker_id])
    assert DBTaskResult.objects.ready().filter(pk=row.pk).exists()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert str(row.pk) in messages[0]
    assert "worker process gone" in messages[0]
    assert "queued again" in messages[0]


@pytest.mark.django_db
def test_a_second_recovery_finds_nothing_to_do():
    # given a recovered task
    row = task_row(worker_id=f"cg:{HOST}:{dead_pid()}:deadbeef0002", started_s_ago=5)
    assert len(task_recover_stuck()) == 1

    # when
    again = task_recover_stuck()

    # then
    assert again == []
    assert state(row)[0] == TaskResultStatus.READY


@pytest.mark.django_db
def test_a_task_of_a_live_process_on_this_host_waits_for_the_lease():
    # given a task of a worker whose process is alive (our parent), claimed 100 s ago
    row = task_row(worker_id=f"cg:{HOST}:{os.getppid()}:alive0000001", started_s_ago=100)

    # when
    recovered = task_recover_stuck(lease_s=600)

    # then nothing changed
    assert recovered == []
    assert state(row)[0] == TaskResultStatus.RUNNING
    assert state(row)[1] is not None


@pytest.mark.parametrize(
    "worker_id",
    [
        "cg:another-host:4242:abcdefabcdef",  # a worker on another node
        "Xq3kR8sLmN0pV2wY5zA7bC9dE1fG4hJ6",  # django-tasks-db's own db_worker (random id)
        "cg:notapid",  # malformed: only the lease can tell
    ],
)
@pytest.mark.django_db
def test_a_task_of_an_unknown_worker_is_queued_again_only_after_the_lease(settings, worker_id):
    # given a lease of 600 s, one task claimed 590 s ago and one 601 s ago
    settings.CIVICGRID_TASK_LEASE_SECONDS = 600
    fresh = task_row(worker_id=worker_id, started_s_ago=590)
    expired = task_row(worker_id=worker_id, started_s_ago=601)

    # when
    recovered = task_recover_stuck()

    # then only the expired one
    assert [(t.id, t.reason) for t in recovered] == [(str(expired.pk), "lease expired")]
    assert state(expired)[0] == TaskResultStatus.READY
    assert state(fresh)[0] == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_the_tasks_of_a_live_worker_of_this_process_are_never_touched():
    # given a worker of this process, registered as running, with a task far past the lease
    worker_id = new_worker_id()
    task_recovery.worker_started(worker_id)
    try:
        row = task_row(worker_id=worker_id, started_s_ago=10_000)

        # when
        recovered = task_recover_stuck(lease_s=60)
    finally:
        task_recovery.worker_stopped(worker_id)

    # then
    assert recovered == []
    assert state(row)[0] == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_an_earlier_life_of_this_pid_counts_as_gone():
    # given a task claimed under this process's pid by a worker id this process does not run
    # (a container restarted with the same pid)
    row = task_row(worker_id=f"cg:{HOST}:{os.getpid()}:earlierlife1", started_s_ago=1)

    # when
    recovered = task_recover_stuck(lease_s=600)

    # then
    assert [t.reason for t in recovered] == ["worker process gone"]
    assert state(row)[0] == TaskResultStatus.READY


@pytest.mark.django_db
def test_finished_and_waiting_tasks_are_left_alone():
    # given old tasks in every other state, of a dead worker
    worker_id = f"cg:{HOST}:{dead_pid()}:deadbeef0003"
    rows = {
        status: task_row(worker_id=worker_id, started_s_ago=10_000, status=status)
        for status in (
            TaskResultStatus.READY,
            TaskResultStatus.SUCCESSFUL,
            TaskResultStatus.FAILED,
        )
    }
    before = {status: state(row) for status, row in rows.items()}

    # when
    recovered = task_recover_stuck(lease_s=1)

    # then
    assert recovered == []
    assert {status: state(row) for status, row in rows.items()} == before


@pytest.mark.parametrize("value", [0, -5, "soon", float("nan"), float("inf"), None])
def test_a_lease_that_is_not_a_positive_number_is_refused(settings, value):
    settings.CIVICGRID_TASK_LEASE_SECONDS = value

    with pytest.raises(ImproperlyConfigured, match="CIVICGRID_TASK_LEASE_SECONDS"):
        task_lease_seconds()


def test_the_lease_defaults_to_ten_minutes_and_recovery_runs_every_half_lease(settings):
    del settings.CIVICGRID_TASK_LEASE_SECONDS

    assert task_lease_seconds() == 600.0
    assert task_recovery.recovery_interval_seconds() == 60.0
    assert task_recovery.recovery_interval_seconds(30) == 15.0
    assert task_recovery.recovery_interval_seconds(0.5) == 1.0


def test_worker_ids_name_host_and_pid_and_fit_django_tasks_db():
    worker_id = new_worker_id()

    prefix, host, pid, token = worker_id.split(":")
    assert (prefix, host, pid) == ("cg", HOST, str(os.getpid()))
    assert len(token) == 12
    assert len(worker_id) < 64
    assert new_worker_id() != worker_id


@pytest.mark.django_db
def test_metrics_count_the_tasks_running_past_the_lease(client, settings):
    # given a lease of 60 s: one task running past it, one within it, one finished long ago
    settings.CIVICGRID_TASK_LEASE_SECONDS = 60
    task_row(worker_id="cg:another-host:1:aaaaaaaaaaaa", started_s_ago=90)
    task_row(worker_id="cg:another-host:1:aaaaaaaaaaaa", started_s_ago=30)
    task_row(
        worker_id="cg:another-host:1:aaaaaaaaaaaa",
        started_s_ago=1000,
        status=TaskResultStatus.SUCCESSFUL,
    )

    settings.CIVICGRID_METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    # when
    response = client.get("/metrics")

    # then
    assert stuck_task_count() == 1
    assert "# TYPE civicgrid_tasks_stuck gauge\ncivicgrid_tasks_stuck 1\n" in (
        response.content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_a_recovered_task_runs_again_once_and_succeeds():
    # given a seal task left running by a dead worker, and an unsealed audit row
    dead = f"cg:{HOST}:{dead_pid()}:deadbeef0004"
    row = task_row(worker_id=dead, started_s_ago=3)
    audit_record(actor=None, action="test.recovery")
    task_recover_stuck()

    # when a real django-tasks-db worker drains the queue
    again = new_worker_id()
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=again,
        excluded_queue_names=[],
    ).run()

    # then the task ran once more, under the new worker, and did its work
    row.refresh_from_db()
    assert (row.status, row.return_value, row.worker_ids) == (
        TaskResultStatus.SUCCESSFUL,
        1,
        [dead, again],
    )
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_starting_worker_frees_and_runs_the_task_of_its_crashed_predecessor(settings):
    # given the database task backend and a task left running 2 s ago by a killed worker
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.CIVICGRID_TASK_LEASE_SECONDS = 600
    dead = f"cg:{HOST}:{dead_pid()}:deadbeef0005"
    row = task_row(worker_id=dead, started_s_ago=2)

    # when a worker starts in this process
    background = Background(tasks=True, periodic=False, interval_s=0.1)
    assert background.descriptions == ["task worker", "stuck-task recovery (lease 600 s)"]
    background.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and state(row)[0] != TaskResultStatus.SUCCESSFUL:
            time.sleep(0.1)
    finally:
        assert background.stop(timeout_s=15)

    # then the task was put back and run by the new worker, once
    assert background.worker is not None
    assert state(row)[0] == TaskResultStatus.SUCCESSFUL
    assert row.worker_ids == [dead, background.worker.worker_id]


@pytest.mark.django_db
def test_a_failed_recovery_is_tried_again_at_the_next_chance_then_waits_its_interval(
    settings, caplog
):
    # given a worker that recovers every 30 s, and a task of a dead worker
    worker = ThreadedDbWorker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=new_worker_id(),
        excluded_queue_names=[],
    )
    worker.recovery_interval_s = 30
    row = task_row(worker_id=f"cg:{HOST}:{dead_pid()}:deadbeef0006", started_s_ago=1)

    # when the first attempt fails (here: a broken setting; in production, SQLite busy)
    settings.CIVICGRID_TASK_LEASE_SECONDS = "broken"
    with caplog.at_level(logging.WARNING, logger="civicgrid.core.runtime"):
        worker.recover_if_due()

    # then nothing changed, a warning says so, and the next chance tries again
    assert state(row)[0] == TaskResultStatus.RUNNING
    assert [r.getMessage()[:46] for r in caplog.records] == [
        "Stuck-task recovery failed, trying again short"
    ]
    settings.CIVICGRID_TASK_LEASE_SECONDS = 600
    worker.recover_if_due()
    assert state(row)[0] == TaskResultStatus.READY

    # and once it succeeded, the next recovery waits for its interval
    later = task_row(worker_id=f"cg:{HOST}:{dead_pid()}:deadbeef0007", started_s_ago=1)
    worker.recover_if_due()
    assert state(later)[0] == TaskResultStatus.RUNNING
