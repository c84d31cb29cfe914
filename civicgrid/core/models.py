"""Core tables: the hash-chained audit log, calendar overrides and atomic daily counters."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    """One row of the append-only audit log (审计日志).

    Services insert rows unsealed (``seal_seq`` empty); the sealing task chains them in the
    order it seals them: ``hash = sha256(prev_hash + canonical(row))``, where the canonical form
    covers every field but the hash. Sealing order is id order except for a row whose
    transaction commits after rows with higher ids were sealed (possible on PostgreSQL): it is
    chained at the end, so it never stays unsealed. ``seal_seq`` is the row's position in the
    chain. Rows are never updated except to be sealed, and never deleted.
    """

    created_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(_("actor label"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    target_type = models.CharField(_("target type"), max_length=80, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True, db_index=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True, db_index=True)
    sealed_at = models.DateTimeField(null=True, blank=True)
    seal_seq = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(
                fields=["id"],
                name="audit_unsealed_idx",
                condition=models.Q(seal_seq__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.target_type}:{self.target_id}"

    @property
    def is_sealed(self) -> bool:
        return self.seal_seq is not None


class AuditChainHead(models.Model):
    """The single row that holds the last sealed record; sealing locks it, nothing else does."""

    last_record_id = models.BigIntegerField(default=0)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"#{self.last_record_id} {self.last_hash}"


class AuditHeadPublication(models.Model):
    """The chain head as published on a day, so that rewriting history later is detectable."""

    published_on = models.DateField(unique=True)
    last_record_id = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)
    published_at = models.DateTimeField()

    class Meta:
        verbose_name = _("published audit head")
        ordering = ["-published_on"]

    def __str__(self) -> str:
        return f"{self.published_on} #{self.last_record_id} {self.last_hash}"


class CalendarDay(models.Model):
    """A manual override of the official calendar: a holiday or a make-up working day (调休).

    Used for years the ``chinese-calendar`` package does not know yet, and for local decisions.
    """

    day = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {'work' if self.is_workday else 'rest'}"


class DailyCounter(models.Model):
    """A per-day sequence (e.g. case numbers YYYYMMDD + sequence), incremented atomically."""

    name = models.CharField(max_length=40)
    day = models.DateField()
    value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "day"], name="daily_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.day} {self.value}"
