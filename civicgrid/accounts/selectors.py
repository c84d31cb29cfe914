"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from .models import ClientKey, Notification, Organization, OrganizationKind, User


def notification_list(*, user: User) -> QuerySet[Notification]:
    """The user's notifications (escalations, decisions awaited), newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


# --------------------------------------------------------------------------- Open311 client keys


def client_key_list() -> QuerySet[ClientKey]:
    """Every Open311 key (active and revoked) with its organization and ``case_count`` (the
    cases submitted with it), active keys first, then by organization and newest first.
    Administrators only: callers check the role."""
    return (
        ClientKey.objects.select_related("organization")
        .annotate(case_count=Count("cases"))
        .order_by(F("revoked_at").desc(nulls_first=True), "organization__code", "-created_at")
    )


def client_key_by_id(key_id: int) -> ClientKey | None:
    """The key with this id (with its organization), or ``None``."""
    return ClientKey.objects.select_related("organization").filter(pk=key_id).first()


def client_key_find(ref: str) -> list[ClientKey]:
    """Keys an operator names on the command line: by id (digits) or by prefix (exact, case
    sensitive as issued). More than one row means the reference is ambiguous."""
    text = (ref or "").strip()
    if not text:
        return []
    condition = Q(prefix=text)
    if text.isdigit():
        condition |= Q(pk=int(text))
    return list(ClientKey.objects.select_related("organization").filter(condition).order_by("pk"))


def client_organization_list() -> QuerySet[Organization]:
    """Active organizations of kind ``client`` (those Open311 keys are issued to), by code."""
    return Organization.objects.filter(is_active=True, kind=OrganizationKind.CLIENT).order_by(
        "code"
    )


def organization_by_code(code: str) -> Organization | None:
    """The organization with this code (any kind, active or not), or ``None``."""
    return Organization.objects.filter(code=(code or "").strip()).first()
