"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Notification, User


def notification_list(*, user: User) -> QuerySet[Notification]:
    """The user's notifications (escalations, decisions awaited), newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")
