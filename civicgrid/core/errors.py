"""One error type for the application, with machine codes, and the one place they map to HTTP.

Every app defines its own subclass of :class:`CivicError` with a ``Code`` enum. A code names its
*kind* (not found, forbidden, invalid, conflict...), and :data:`HTTP_STATUS` maps kinds to HTTP
statuses, so views and APIs never pick status codes themselves.
"""

from __future__ import annotations

import enum
from typing import Any

from django.utils.functional import Promise


class ErrorKind(enum.StrEnum):
    INVALID = "invalid"  # the input is wrong: say what and where
    NOT_FOUND = "not_found"  # missing *or forbidden*: the two are never told apart
    FORBIDDEN = "forbidden"  # the actor may see the object but not do this to it
    CONFLICT = "conflict"  # the object is not in a state that allows this
    UNAUTHENTICATED = "unauthenticated"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA = "unsupported_media"


HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA: 415,
    ErrorKind.RATE_LIMITED: 429,
}


class CivicError(Exception):
    """Base of every app's error. ``code`` is a machine code, ``message`` is translated text.

    ``field`` names the input the error is about (``"location.lat"``, ``"row 12"``), so a form
    or an API client can put the message where it belongs.
    """

    kind: ErrorKind = ErrorKind.INVALID

    def __init__(
        self,
        code: enum.Enum | str,
        message: str | Promise,
        *,
        field: str | None = None,
        kind: ErrorKind | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.code = code.value if isinstance(code, enum.Enum) else code
        self.message = str(message)
        self.field = field
        if kind is not None:
            self.kind = kind
        self.details = details or {}
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.kind]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class CoreError(CivicError):
    """Errors of the core app (calendar, audit)."""

    class Code(enum.StrEnum):
        BAD_WORK_PERIODS = "core.bad_work_periods"
        NO_CALENDAR_DATA = "core.no_calendar_data"
        BAD_CALENDAR_INPUT = "core.bad_calendar_input"
        AUDIT_CHAIN_BROKEN = "core.audit_chain_broken"
