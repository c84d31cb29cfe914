"""The one error type of the Open311 app.

GeoReport v2 answers errors with a list of ``{code, description}``; one request may have
several problems (a missing ``service_code`` *and* a latitude out of range), so an
:class:`Open311Error` carries every ``(parameter, message)`` pair it found in ``problems``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from civicgrid.core.errors import CivicError, ErrorKind

Problem = tuple[str, str]  # (the Open311 parameter, or "" for the request as a whole; message)


class Open311Error(CivicError):
    """Refusals of the Open311 endpoints; ``kind`` gives the HTTP status (404, 403, 400...)."""

    class Code(enum.StrEnum):
        NOT_FOUND = "open311.not_found"
        UNKNOWN_JURISDICTION = "open311.unknown_jurisdiction"
        BAD_API_KEY = "open311.bad_api_key"
        BAD_INPUT = "open311.bad_input"
        BAD_CONTENT_TYPE = "open311.bad_content_type"

    @classmethod
    def invalid(cls, problems: Sequence[Problem]) -> Open311Error:
        """One 400 error listing every problem of the input, in the order found."""
        first_field, first_message = problems[0]
        return cls(
            cls.Code.BAD_INPUT,
            first_message,
            field=first_field or None,
            kind=ErrorKind.INVALID,
            details={"problems": list(problems)},
        )

    @property
    def problems(self) -> list[Problem]:
        listed = self.details.get("problems")
        if listed:
            return [(str(f), str(m)) for f, m in listed]
        return [(self.field or "", self.message)]
