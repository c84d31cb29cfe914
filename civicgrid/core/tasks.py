"""Background tasks of the core app: thin, idempotent wrappers over the services."""

from __future__ import annotations

from django.tasks import task

from . import services


@task
def seal_audit_task() -> int:
    """Chain the unsealed audit rows; returns how many were sealed. Safe to run at any time."""
    return services.audit_seal()


@task
def publish_audit_head_task() -> int | None:
    """Publish today's audit chain head (once per day); returns the id of the head row."""
    publication = services.audit_publish_head()
    return publication.last_record_id if publication is not None else None
