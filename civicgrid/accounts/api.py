"""Account endpoints: exchange a password for an API token, see who you are, revoke."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja import Status as HttpStatus
from ninja.throttling import AnonRateThrottle
from pydantic import ConfigDict, Field

from civicgrid.core.errors import ErrorKind

from .errors import AccountError
from .lockout import lockout_reset_after_login
from .models import ApiToken, User
from .services import (
    TOKEN_NAME_MAX,
    api_token_issue,
    api_token_revoke,
    login_lockout_error,
    two_factor_required,
    two_factor_status,
    two_factor_verify,
)

router = Router(tags=["auth"])


class ErrorBodyOut(Schema):
    """What ``civicgrid.config.api`` answers for every refusal, under ``error``."""

    model_config = ConfigDict(extra="allow")  # "fields" (invalid input), "details"

    code: str = Field(description="A machine code: `invalid_input`, `unauthenticated`, …")
    message: str = Field(description="What is wrong, in the request's language.")
    field: str | None = Field(None, description="The input the error is about, when there is one.")


class ErrorOut(Schema):
    """The one shape of every API error: ``{"error": {"code", "message", "field"?, …}}``."""

    error: ErrorBodyOut


class TokenIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=200)
    name: str = Field("api", min_length=1, max_length=TOKEN_NAME_MAX)
    code: str = Field(
        "",
        max_length=16,
        description=(
            "The current code of the user's authenticator app (or a backup code), for staff "
            "who must pass a second factor."
        ),
    )


class TokenOut(Schema):
    token: str = Field(description="Shown once; send it as `Authorization: Bearer <token>`.")
    prefix: str
    name: str
    created_at: dt.datetime


class MeOut(Schema):
    username: str
    display_name: str
    role: str
    organization: str | None
    area_code: str
    language: str
    large_text: bool


class RevokedOut(Schema):
    prefix: str
    revoked_at: dt.datetime


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@router.post(
    "/token",
    auth=None,
    response={201: TokenOut, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    throttle=[AnonRateThrottle("20/m")],
    summary="Exchange username and password for a personal API token",
    description=(
        "After too many wrong passwords for one username from one address the pair is locked "
        "out for a while: 429 `accounts.locked_out` with `details.retry_after` in seconds. "
        "Staff who must pass a second factor send their authenticator's current `code` too "
        "(401 `accounts.two_factor_required` without it); calls with the token are not asked "
        "again (see docs/security.md)."
    ),
)
def token_create(request: HttpRequest, payload: TokenIn) -> HttpStatus[TokenOut]:
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None and getattr(request, "axes_locked_out", False):
        # django-axes refused this username from this address (or this attempt used up the
        # allowance): 429 with the wait, whether or not the password was right.
        raise login_lockout_error()
    if user is None:
        raise AccountError(
            AccountError.Code.BAD_CREDENTIALS,
            _("The username or password is not correct."),
            kind=ErrorKind.UNAUTHENTICATED,
        )
    assert isinstance(user, User)
    lockout_reset_after_login(request, user.get_username())
    _second_factor(user, payload.code)
    token, raw = api_token_issue(actor=user, user=user, name=payload.name)
    return HttpStatus(
        201, TokenOut(token=raw, prefix=token.prefix, name=token.name, created_at=token.created_at)
    )


def _second_factor(user: User, code: str) -> None:
    """A token is issued to staff who owe a second factor only with their current code: the
    token then stands for the full login, so using it needs no code later."""
    if not two_factor_required(user=user):
        return
    if two_factor_status(user=user)["device"] is None:
        raise AccountError(
            AccountError.Code.TWO_FACTOR_REQUIRED,
            _("Set up your authenticator app on the website first, then ask for a token."),
            field="code",
            kind=ErrorKind.UNAUTHENTICATED,
        )
    if not code.strip():
        raise AccountError(
            AccountError.Code.TWO_FACTOR_REQUIRED,
            _("Send the current code of your authenticator app as 'code'."),
            field="code",
            kind=ErrorKind.UNAUTHENTICATED,
        )
    try:
        two_factor_verify(user=user, token=code, stage="token")
    except AccountError as error:
        if error.code == AccountError.Code.BAD_CREDENTIALS:
            error.kind = ErrorKind.UNAUTHENTICATED  # as a wrong password here
        raise


@router.delete(
    "/token",
    # 400: authenticated by the session instead of a token; 403: the session without CSRF.
    response={200: RevokedOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
    summary="Revoke the token this request was sent with",
)
def token_revoke(request: HttpRequest) -> RevokedOut:
    token: ApiToken | None = getattr(request, "api_token", None)
    if token is None:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("This request was not authenticated with an API token."),
            field="Authorization",
        )
    revoked = api_token_revoke(actor=_actor(request), token=token)
    assert revoked.revoked_at is not None
    return RevokedOut(prefix=revoked.prefix, revoked_at=revoked.revoked_at)


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="The authenticated user")
def me(request: HttpRequest) -> MeOut:
    user = _actor(request)
    return MeOut(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        organization=user.organization.code if user.organization else None,
        area_code=user.area_code,
        language=user.language,
        large_text=user.large_text,
    )
