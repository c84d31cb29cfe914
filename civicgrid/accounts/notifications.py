"""What a notification says, drawn in the reader's language when it is read.

A :class:`~civicgrid.accounts.models.Notification` stores an event code (``case.overdue``)
and its parameters (``{"number": "...", "status": "dispatched"}``), never a sentence: the
same row reads in Chinese to one supervisor and in English to another, and a wording fixed
later fixes every old notification too. The app that sends an event registers how it reads,
from its ``AppConfig.ready()``::

    register_notification_event("case.overdue", lambda p: _("Case %(number)s is overdue.") % p)

An event nobody registered (an app removed since) reads as its code, so an old row never
breaks a page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

Renderer = Callable[[Mapping[str, Any]], str]
_RENDERERS: dict[str, Renderer] = {}

# Rows written before notifications stored events (migration 0003) keep their sentence here.
LEGACY_EVENT = "legacy.message"


def register_notification_event(event: str, render: Renderer) -> None:
    """Say how notifications of ``event`` read (called once per process per event)."""
    _RENDERERS[event] = render


def notification_text(event: str, params: Mapping[str, Any]) -> str:
    """The notification's sentence in the active language."""
    render = _RENDERERS.get(event)
    if render is None:
        return event
    try:
        return render(params)
    except (KeyError, TypeError, ValueError):
        logger.warning("notification %s has parameters it cannot be read with", event)
        return event


register_notification_event(LEGACY_EVENT, lambda params: str(params.get("message", "")))
