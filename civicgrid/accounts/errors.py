"""The one error type of the accounts app."""

from __future__ import annotations

import enum

from civicgrid.core.errors import CivicError


class AccountError(CivicError):
    """Errors of users, organizations and API tokens."""

    class Code(enum.StrEnum):
        NOT_FOUND = "accounts.not_found"
        FORBIDDEN = "accounts.forbidden"
        BAD_INPUT = "accounts.bad_input"
        BAD_CREDENTIALS = "accounts.bad_credentials"
        REVOKED = "accounts.revoked"
        RATE_LIMITED = "accounts.rate_limited"
        LOCKED_OUT = "accounts.locked_out"
        TWO_FACTOR_REQUIRED = "accounts.two_factor_required"
