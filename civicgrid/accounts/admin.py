"""Admin for organizations and users; every change is audited."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from civicgrid.core.admin import AuditedAdmin

from .models import Organization, User


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = ["code", "name", "kind", "area_code", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name", "name_en"]


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    list_display = ["username", "display_name", "role", "organization", "area_code", "is_active"]
    list_filter = ["role", "organization__kind", "is_active"]
    search_fields = ["username", "display_name", "email"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (
            _("civicgrid"),
            {"fields": ("role", "organization", "area_code", "display_name", "phone", "language")},
        ),
    )
