"""The notification events of the case loop and how each reads (in the reader's language).

The services store the event and its parameters (``services._notify``); :func:`register` runs
from ``CasesConfig.ready()`` and teaches ``civicgrid.accounts.notifications`` the sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from civicgrid.accounts.notifications import register_notification_event

from .models import Status

EVENT_CASE_OVERDUE = "case.overdue"


def _status_label(code: Any) -> str:
    try:
        return str(Status(code).label)
    except ValueError:
        return str(code)


def case_overdue_text(params: Mapping[str, Any]) -> str:
    return _("Case %(number)s is overdue (%(status)s).") % {
        "number": params["number"],
        "status": _status_label(params.get("status")),
    }


def register() -> None:
    register_notification_event(EVENT_CASE_OVERDUE, case_overdue_text)
