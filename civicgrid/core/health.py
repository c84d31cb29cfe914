"""Liveness (``GET /healthz``) and readiness (``GET /readyz``) for load balancers and probes.

``/healthz`` answers 200 as long as the process can run a view: it touches neither the
database nor the disk, so a database outage never makes an orchestrator restart healthy web
processes. ``/readyz`` answers 200 only when this process can serve real requests: the
database answers, every migration of this code is applied, the task queue table can be read,
and the media directory is writable; otherwise 503 naming the failed checks. Both are public
(no login, no session, no CSRF: GET and HEAD only) and say nothing secret: a failed check
gives the error's class name, and the full error goes to the log.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

Check = Callable[[], dict[str, Any]]


def pending_migrations(connection: BaseDatabaseWrapper | None = None) -> list[str]:
    """The migrations of this code not applied to the database, as ``app.name``, in order."""
    executor = MigrationExecutor(connection or connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_database() -> dict[str, Any]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_migrations() -> dict[str, Any]:
    pending = pending_migrations()
    if pending:
        return {"ok": False, "pending": len(pending)}
    return {"ok": True}


def check_tasks() -> dict[str, Any]:
    from django_tasks_db.models import DBTaskResult

    return {"ok": True, "ready": DBTaskResult.objects.ready().count()}


def check_media() -> dict[str, Any]:
    """Create and remove a file in MEDIA_ROOT: a read-only mount or a full disk fails here."""
    root = Path(settings.MEDIA_ROOT)
    with tempfile.NamedTemporaryFile(dir=root, prefix=".civicgrid-ready-") as probe:
        probe.write(b"ok")
        probe.flush()
    return {"ok": True}


READINESS_CHECKS: dict[str, Check] = {
    "database": check_database,
    "migrations": check_migrations,
    "tasks": check_tasks,
    "media": check_media,
}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every readiness check; each runs even when another failed."""
    results: dict[str, dict[str, Any]] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:
            logger.warning("Readiness check %s failed", name, exc_info=True)
            results[name] = {"ok": False, "error": type(exc).__name__}
    return all(result["ok"] for result in results.values()), results


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """``GET /healthz``: 200 ``{"status": "ok"}``; the process is alive."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """``GET /readyz``: 200 with every check, or 503 with ``failed`` naming the failed ones."""
    ok, checks = readiness()
    if ok:
        return JsonResponse({"status": "ok", "checks": checks})
    failed = [name for name, result in checks.items() if not result["ok"]]
    return JsonResponse({"status": "fail", "failed": failed, "checks": checks}, status=503)
