"""Admin for organizations, users and Open311 client keys; every change is audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from civicgrid.core.admin import AuditedAdmin

from .errors import AccountError
from .models import ClientKey, Organization, Role, User
from .selectors import client_organization_list
from .services import CLIENT_KEY_RATE_MAX, client_key_issue, client_key_revoke


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


# --------------------------------------------------------------------------- Open311 client keys


def _is_administrator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.role == Role.ADMINISTRATOR)


class ClientKeyAddForm(forms.ModelForm):
    """What an administrator chooses when issuing a key; the key itself comes from the service."""

    class Meta:
        model = ClientKey
        fields = ["organization", "name", "rate_per_minute"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organization = self.fields["organization"]
        assert isinstance(organization, forms.ModelChoiceField)
        organization.queryset = client_organization_list()
        organization.help_text = _("Active organizations of kind “API client”.")
        rate = self.fields["rate_per_minute"]
        rate.validators.extend([MinValueValidator(1), MaxValueValidator(CLIENT_KEY_RATE_MAX)])
        rate.widget.attrs.update({"min": 1, "max": CLIENT_KEY_RATE_MAX})


class KeyStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("Active")), ("revoked", _("Revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    """Keys are issued and revoked only through the services (which audit them); the raw key is
    shown once after issuing, the hash never. Keys are never edited or deleted: cases point at
    the key that submitted them."""

    list_display = [
        "organization",
        "name",
        "prefix_display",
        "rate_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [KeyStatusFilter, "organization", "created_at"]
    search_fields = ["name", "prefix", "organization__code", "organization__name"]
    list_select_related = ["organization"]
    actions = ["revoke_keys"]
    view_fields = (
        "organization",
        "name",
        "prefix_display",
        "rate_per_minute",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    add_fields = ("organization", "name", "rate_per_minute")

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_display(self, obj: ClientKey) -> str:
        return f"{obj.prefix}…"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any):
        if obj is None:
            kw["form"] = ClientKeyAddForm
        return super().get_form(request, obj, change=change, **kw)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.view_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and _is_administrator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request) and self.has_view_permission(request)

    def save_model(self, request: HttpRequest, obj: ClientKey, form: Any, change: bool) -> None:
        """Issue through the service instead of saving the form's row; show the raw key once.

        The form already limits the choices to what the service accepts (active client
        organizations, a name, a rate in range), so the service's refusals cannot reach here.
        """
        key, raw = client_key_issue(
            actor=request.user,  # type: ignore[arg-type]  # has_add_permission: an administrator
            organization=obj.organization,
            name=obj.name,
            rate_per_minute=obj.rate_per_minute,
        )
        for field in ("pk", "prefix", "key_hash", "created_at", "created_by", "name"):
            setattr(obj, field, getattr(key, field))
        messages.warning(
            request,
            gettext(
                "The new API key for %(organization)s is %(key)s — copy it now, it is not "
                "shown again."
            )
            % {"organization": key.organization.code, "key": raw},
        )

    @admin.action(description=_("Revoke selected keys"), permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ClientKey]) -> None:
        revoked: list[str] = []
        already: list[str] = []
        for key in queryset.select_related("organization").order_by("pk"):
            try:
                client_key_revoke(actor=request.user, key=key)  # type: ignore[arg-type]  # permission
            except AccountError as error:
                if error.code != AccountError.Code.REVOKED:
                    raise
                already.append(f"{key.prefix}…")
            else:
                revoked.append(f"{key.prefix}…")
        if revoked:
            self.message_user(
                request,
                ngettext(
                    "Revoked %(count)d key: %(keys)s.",
                    "Revoked %(count)d keys: %(keys)s.",
                    len(revoked),
                )
                % {"count": len(revoked), "keys": ", ".join(revoked)},
                messages.SUCCESS,
            )
        if already:
            self.message_user(
                request,
                gettext("Already revoked, left as they were: %(keys)s.")
                % {"keys": ", ".join(already)},
                messages.WARNING,
            )


# Second-factor devices change only through the audited services (the account page and
# `manage.py two_factor_reset`): django-otp's own admin would let staff add, edit and delete
# them without an audit record, and it shows each device's secret.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)
