"""Small display helpers for the case pages."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from civicgrid.accounts.models import Role
from civicgrid.cases.models import Light

register = template.Library()


@register.filter
def role_label(value: str) -> str:
    """The translated name of a role code ('' for none or unknown)."""
    return str(Role(value).label) if value in Role.values else ""


@register.filter
def light_label(value: str) -> str:
    return str(Light(value).label) if value in Light.values else ""


@register.filter
def on_time_label(value: bool | None) -> str:
    if value is None:
        return ""
    return _("on time") if value else _("late")
