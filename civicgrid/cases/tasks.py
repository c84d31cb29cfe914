"""Background tasks of the cases app: thin, idempotent, safe to retry."""

from __future__ import annotations

from django.tasks import task

from . import services


@task
def escalate_overdue_task() -> int:
    """Escalate every case whose step is past its deadline, once per step."""
    return services.case_escalate_overdue()
