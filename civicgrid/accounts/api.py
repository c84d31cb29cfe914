"""Account endpoints: exchange a password for an API token, see who you are, revoke."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja import Status as HttpStatus
from ninja.throttling import AnonRateThrottle
from pydantic import Field

from civicgrid.core.errors import ErrorKind

from .errors import AccountError
from .models import ApiToken, User
from .services import TOKEN_NAME_MAX, api_token_issue, api_token_revoke

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=200)
    name: str = Field("api", min_length=1, max_length=TOKEN_NAME_MAX)


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
    response={201: TokenOut},
    throttle=[AnonRateThrottle("20/m")],
    summary="Exchange username and password for a personal API token",
)
def token_create(request: HttpRequest, payload: TokenIn) -> HttpStatus[TokenOut]:
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        raise AccountError(
            AccountError.Code.BAD_CREDENTIALS,
            _("The username or password is not correct."),
            kind=ErrorKind.UNAUTHENTICATED,
        )
    assert isinstance(user, User)
    token, raw = api_token_issue(actor=user, user=user, name=payload.name)
    return HttpStatus(
        201, TokenOut(token=raw, prefix=token.prefix, name=token.name, created_at=token.created_at)
    )


@router.delete(
    "/token",
    response={200: RevokedOut},
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


@router.get("/me", response=MeOut, summary="The authenticated user")
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
