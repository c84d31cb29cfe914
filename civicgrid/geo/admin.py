"""Admin for areas, cells and grid members. Every save goes through a service.

Codes, levels and polygons change only through a grid import (``import_grid``), which checks the
whole grid at once; here areas and cells can be renamed, retyped or deactivated, and grid members
appointed and ended.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Area, GridCell, GridMember


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name", "name_en"]
    fields = ["code", "level", "name", "name_en", "parent", "geometry"]
    readonly_fields = ["code", "level", "parent", "geometry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # areas come from a grid import, which checks codes and boundaries

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Area, form: Any, change: bool) -> None:
        services.area_update(actor=request.user, area=obj, name=obj.name, name_en=obj.name_en)


@admin.register(GridCell)
class GridCellAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "cell_type", "community", "is_active"]
    list_filter = ["cell_type", "is_active"]
    search_fields = ["code", "name", "name_en"]
    list_select_related = ["community"]
    fields = [
        "code",
        "community",
        "name",
        "name_en",
        "cell_type",
        "is_active",
        "geometry",
        "centroid_lat",
        "centroid_lng",
    ]
    readonly_fields = ["code", "community", "geometry", "centroid_lat", "centroid_lng"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cells come from a grid import, which checks overlaps and boundaries

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: cases keep pointing at the cell

    def save_model(self, request: HttpRequest, obj: GridCell, form: Any, change: bool) -> None:
        services.cell_update(
            actor=request.user,
            cell=obj,
            name=obj.name,
            name_en=obj.name_en,
            cell_type=obj.cell_type,
            is_active=obj.is_active,
        )


class GridMemberForm(forms.ModelForm):
    class Meta:
        model = GridMember
        fields = ["cell", "user", "role", "valid_from", "valid_to"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        is_new = self.instance.pk is None
        if (
            is_new
            and not self.errors
            and services.member_overlaps(
                cell=data["cell"],
                user=data["user"],
                role=data["role"],
                valid_from=data["valid_from"],
                valid_to=data.get("valid_to"),
            )
        ):
            raise forms.ValidationError(
                _("This person already serves this cell in this role during that period.")
            )
        return data


@admin.register(GridMember)
class GridMemberAdmin(admin.ModelAdmin):
    form = GridMemberForm
    list_display = ["cell", "user", "role", "valid_from", "valid_to"]
    list_filter = ["role"]
    search_fields = ["cell__code", "user__username", "user__display_name"]
    list_select_related = ["cell", "user"]
    autocomplete_fields = ["cell"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        if obj.valid_to is None:
            return ["cell", "user", "role", "valid_from"]  # only ending the membership
        return ["cell", "user", "role", "valid_from", "valid_to"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # end a membership instead, so the history stays

    def save_model(self, request: HttpRequest, obj: GridMember, form: Any, change: bool) -> None:
        if not change:
            member = services.grid_member_add(
                actor=request.user,
                cell=obj.cell,
                user=obj.user,
                role=obj.role,
                valid_from=obj.valid_from,
                valid_to=obj.valid_to,
            )
            obj.pk = member.pk
        elif obj.valid_to is not None and "valid_to" in form.changed_data:
            services.grid_member_end(actor=request.user, member=obj, valid_to=obj.valid_to)
