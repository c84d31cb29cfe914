"""Small display helpers for the case pages."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from civicgrid.accounts.models import Role
from civicgrid.cases.models import Light, Status

_LIGHTS = frozenset(Light.values)
_STATUSES = frozenset(Status.values)

register = template.Library()


@register.filter
def role_label(value: str) -> str:
    """The translated name of a role code ('' for none or unknown)."""
    return str(Role(value).label) if value in Role.values else ""


@register.filter
def light_label(value: str) -> str:
    return str(Light(value).label) if value in _LIGHTS else ""


@register.simple_tag
def light_badge(value: str) -> SafeString:
    """The traffic light with its label: a dot and the words, never colour alone. A tag rather
    than an included template, cheap enough for every row of a long table."""
    code = value if value in _LIGHTS else Light.NONE
    return format_html(
        '<span class="light light-{}"><span class="dot" aria-hidden="true"></span>{}</span>',
        code,
        light_label(code),
    )


@register.filter
def status_label(value: str) -> str:
    """The translated name of a case status ('' for unknown)."""
    return str(Status(value).label) if value in _STATUSES else ""


@register.filter
def on_time_label(value: bool | None) -> str:
    if value is None:
        return ""
    return _("on time") if value else _("late")
