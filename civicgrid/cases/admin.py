"""Admin for the case configuration (categories, limits, routing) and a read-only case view.

Cases change only through the workflow services, so the admin never edits them. Changes to
configuration rows made here are audited like any other write.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from civicgrid.core.admin import AuditedAdmin

from .models import Case, Category, RoutingRule, TimeLimit, Trace


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ["code", "name", "name_en", "branch", "parent", "default_unit", "is_public"]
    list_filter = ["branch", "is_public", "is_active"]
    search_fields = ["code", "name", "name_en"]
    inlines = [TimeLimitInline]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    list_display = ["category", "cell", "unit"]
    list_filter = ["unit"]
    search_fields = ["category__code", "category__name", "cell__code"]
    raw_id_fields = ["cell", "category"]


class TraceInline(admin.TabularInline):
    model = Trace
    extra = 0
    can_delete = False
    fields = ("finished_at", "action", "from_status", "to_status", "actor", "unit", "on_time")
    readonly_fields = (
        "finished_at",
        "action",
        "from_status",
        "to_status",
        "actor",
        "unit",
        "on_time",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["number", "category", "status", "unit", "reported_at", "deadline_at"]
    list_filter = ["status", "urgency", "source", "is_overdue"]
    search_fields = ["number"]
    inlines = [TraceInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
