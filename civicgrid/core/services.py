"""Writers of the core tables: the audit log and its sealing, calendar overrides."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditHeadPublication, AuditRecord, CalendarDay

GENESIS_HASH = "0" * 64


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    return str(getattr(actor, "username", "") or getattr(actor, "pk", "") or "anonymous")


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one unsealed row to the audit log.

    Called by every service inside its own transaction, so the row commits or rolls back with
    the change it describes. No lock is taken here: the sealing task chains rows afterwards.
    ``data`` must be JSON-serialisable and must not hold personal data in clear.
    """
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditRecord.objects.create(
        created_at=timezone.now(),
        actor=actor if is_user else None,
        actor_label=_actor_label(actor),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )


def canonical_record(record: AuditRecord) -> bytes:
    """The bytes a row's hash covers: every field but the hash itself and the sealing time."""
    payload = {
        "id": record.pk,
        "created_at": record.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": record.actor_id,
        "actor_label": record.actor_label,
        "action": record.action,
        "target_type": record.target_type,
        "target_id": record.target_id,
        "data": record.data,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_record(record)).hexdigest()


def audit_seal(*, batch_size: int = 1000) -> int:
    """Chain every unsealed row, in id order, onto the head. Returns how many rows were sealed.

    Idempotent and safe to run concurrently: the chain head row is locked (SELECT ... FOR
    UPDATE on PostgreSQL; SQLite serialises writers anyway), so two sealers never chain the
    same rows. Only rows with an id above the head are taken, so a crash between batches leaves
    a consistent chain and the next run continues.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
            rows = list(
                AuditRecord.objects.filter(id__gt=head.last_record_id, hash="").order_by("id")[
                    :batch_size
                ]
            )
            if not rows:
                return sealed
            prev = head.last_hash or GENESIS_HASH
            now = timezone.now()
            for row in rows:
                row.prev_hash = prev
                row.hash = chain_hash(prev, row)
                row.sealed_at = now
                prev = row.hash
            AuditRecord.objects.bulk_update(rows, ["prev_hash", "hash", "sealed_at"])
            head.last_record_id = rows[-1].pk
            head.last_hash = prev
            head.save(update_fields=["last_record_id", "last_hash", "updated_at"])
            sealed += len(rows)


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    checked_count: int
    unsealed_count: int
    broken_record_id: int | None = None
    reason: str = ""


def audit_verify() -> AuditVerification:
    """Recompute the whole chain. Reports the first row whose hash or link does not match.

    Reads in id order with an iterator so the whole log is never held in memory.
    """
    prev = GENESIS_HASH
    checked = 0
    for row in AuditRecord.objects.exclude(hash="").order_by("id").iterator(chunk_size=2000):
        if row.prev_hash != prev:
            return AuditVerification(
                False, checked, _unsealed(), row.pk, "link to the previous row does not match"
            )
        if chain_hash(prev, row) != row.hash:
            return AuditVerification(
                False, checked, _unsealed(), row.pk, "row content does not match its hash"
            )
        prev = row.hash
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_hash and head.last_hash != prev:
        return AuditVerification(False, checked, _unsealed(), None, "chain head does not match")
    for pub in AuditHeadPublication.objects.all():
        row = AuditRecord.objects.filter(pk=pub.last_record_id).first()
        if row is None or row.hash != pub.last_hash:
            return AuditVerification(
                False,
                checked,
                _unsealed(),
                pub.last_record_id,
                f"published head of {pub.published_on} no longer matches",
            )
    return AuditVerification(True, checked, _unsealed())


def _unsealed() -> int:
    return AuditRecord.objects.filter(hash="").count()


def audit_publish_head(*, day: dt.date | None = None) -> AuditHeadPublication | None:
    """Publish today's chain head (idempotent per day). Seals first so the head is current."""
    audit_seal()
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or not head.last_hash:
        return None
    day = day or timezone.localdate()
    pub, _ = AuditHeadPublication.objects.get_or_create(
        published_on=day,
        defaults={
            "last_record_id": head.last_record_id,
            "last_hash": head.last_hash,
            "published_at": timezone.now(),
        },
    )
    return pub


@transaction.atomic
def calendar_day_set(*, actor: Any, day: dt.date, is_workday: bool, note: str = "") -> CalendarDay:
    """Record a manual calendar override (holiday or make-up working day) for ``day``."""
    obj, _ = CalendarDay.objects.update_or_create(
        day=day, defaults={"is_workday": is_workday, "note": note[:100]}
    )
    obj.full_clean()
    audit_record(
        actor=actor,
        action="calendar.day_set",
        target=obj,
        data={"day": day.isoformat(), "is_workday": is_workday, "note": note[:100]},
    )
    from .worktime import clear_calendar_cache

    transaction.on_commit(clear_calendar_cache)
    return obj
