"""Admin of the core tables: the audit log is read-only; calendar overrides go through services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import AuditHeadPublication, AuditRecord, CalendarDay
from .services import audit_record, calendar_day_clear, calendar_day_set


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff with the view permission; nobody adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor_label", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["=target_id", "action", "actor_label"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # a count over millions of rows on every page is slow


@admin.register(AuditHeadPublication)
class AuditHeadPublicationAdmin(ReadOnlyAdmin):
    list_display = ["published_on", "last_record_id", "last_hash", "published_at"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Overrides are saved and deleted through the services, so every change is audited."""

    list_display = ["day", "is_workday", "note"]
    list_filter = ["is_workday"]
    date_hierarchy = "day"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Changing the date of an override would be a delete plus a create: do those instead.
        return ["day"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: CalendarDay, form: Any, change: bool) -> None:
        saved = calendar_day_set(
            actor=request.user, day=obj.day, is_workday=obj.is_workday, note=obj.note
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: CalendarDay) -> None:
        calendar_day_clear(actor=request.user, day=obj.day)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> None:
        for day in queryset.values_list("day", flat=True):
            calendar_day_clear(actor=request.user, day=day)


class AuditedAdmin(admin.ModelAdmin):
    """For configuration rows edited in the admin: every save and delete is audited in the same
    transaction (the admin wraps its changes in one)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"admin.{'change' if change else 'add'}.{obj._meta.model_name}",
            target=obj,
            data={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(actor=request.user, action=f"admin.delete.{obj._meta.model_name}", target=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            audit_record(
                actor=request.user, action=f"admin.delete.{obj._meta.model_name}", target=obj
            )
        super().delete_queryset(request, queryset)
