"""Writers of the accounts tables: API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.errors import ErrorKind
from civicgrid.core.services import audit_record

from .errors import AccountError
from .models import ApiToken, Role, User

TOKEN_PREFIX_LENGTH = 8
TOKEN_NAME_MAX = ApiToken._meta.get_field("name").max_length or 80
# How stale ``last_used_at`` may get before a request writes it again.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)


def token_hash(raw_token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


def _may_manage_tokens(actor: User | None, user: User) -> bool:
    """The CLI (no actor), an administrator, or the user for their own tokens."""
    if actor is None:
        return True
    if not actor.is_authenticated or not actor.is_active:
        return False
    return actor.pk == user.pk or actor.role == Role.ADMINISTRATOR


def _forbidden() -> AccountError:
    return AccountError(
        AccountError.Code.FORBIDDEN,
        _("Only the user or an administrator may manage this user's API tokens."),
        kind=ErrorKind.FORBIDDEN,
    )


@transaction.atomic
def api_token_issue(*, actor: User | None, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token for ``user`` and return it with the raw token.

    The raw token (43 URL-safe characters, 256 bits) is returned once and never stored: the
    row keeps its SHA-256 hash and its first 8 characters, so a user can tell tokens apart
    and an administrator can find one without being able to use it. ``actor`` is ``None``
    for the command line. Writes one audit record.
    """
    if not _may_manage_tokens(actor, user):
        raise _forbidden()
    if not user.is_active:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("User %(username)s is not active.") % {"username": user.username},
            field="user",
        )
    label = (name or "").strip()
    if not label or len(label) > TOKEN_NAME_MAX:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("Give the token a name of 1 to %(max)s characters.") % {"max": TOKEN_NAME_MAX},
            field="name",
        )
    raw = secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=label,
        prefix=raw[:TOKEN_PREFIX_LENGTH],
        key_hash=token_hash(raw),
        created_at=timezone.now(),
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        action="accounts.token_issue",
        target=token,
        data={"user": user.username, "name": label, "prefix": token.prefix},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: User | None, token: ApiToken) -> ApiToken:
    """Revoke a token: it stops authenticating at once. Revoking twice is refused (409), so
    the audit log holds exactly one revocation per token."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if not _may_manage_tokens(actor, token.user):
        raise _forbidden()
    if token.revoked_at is not None:
        raise AccountError(
            AccountError.Code.REVOKED,
            _("This token was already revoked."),
            kind=ErrorKind.CONFLICT,
        )
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="accounts.token_revoke",
        target=token,
        data={"user": token.user.username, "name": token.name, "prefix": token.prefix},
    )
    return token


def api_token_authenticate(*, raw_token: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The active token (with its active user) that ``raw_token`` names, or ``None``.

    Looks the token up by its hash (the raw token is never compared or stored). Records
    ``last_used_at`` at most once per :data:`TOKEN_TOUCH_INTERVAL` with a conditional UPDATE,
    so busy clients do not write on every request. That bookkeeping write is not audited: it
    changes no permission or domain data, and an audit row per minute per client would drown
    the log.
    """
    raw = (raw_token or "").strip()
    if not raw or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user", "user__organization")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or token.last_used_at <= now - TOKEN_TOUCH_INTERVAL:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOKEN_TOUCH_INTERVAL)
        if ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now):
            token.last_used_at = now
    return token
