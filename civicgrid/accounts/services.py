"""Writers of the accounts tables: personal API tokens and Open311 client keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.errors import ErrorKind
from civicgrid.core.services import audit_record

from .errors import AccountError
from .models import ApiToken, ClientKey, Organization, OrganizationKind, Role, User

TOKEN_PREFIX_LENGTH = 8
TOKEN_NAME_MAX = ApiToken._meta.get_field("name").max_length or 80
# How stale ``last_used_at`` may get before a request writes it again.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)


def new_secret() -> str:
    """43 URL-safe characters (256 bits) that do not start with "-", so a prefix can be given
    to a command line without being taken for an option."""
    while True:
        raw = secrets.token_urlsafe(32)
        if not raw.startswith("-"):
            return raw


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
    raw = new_secret()
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
    _touch_last_used(token, now or timezone.now())
    return token


def _touch_last_used(credential: ApiToken | ClientKey, now: dt.datetime) -> None:
    """Record ``last_used_at`` at most once per :data:`TOKEN_TOUCH_INTERVAL`, with a
    conditional UPDATE so concurrent requests write it once."""
    cutoff = now - TOKEN_TOUCH_INTERVAL
    if credential.last_used_at is not None and credential.last_used_at > cutoff:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)
    if type(credential).objects.filter(stale, pk=credential.pk).update(last_used_at=now):
        credential.last_used_at = now


# --------------------------------------------------------------------------- Open311 client keys

CLIENT_KEY_NAME_MAX = ClientKey._meta.get_field("name").max_length or 80
CLIENT_KEY_RATE_MAX = 100_000


def _require_administrator(actor: User | None) -> None:
    """The CLI (no actor) or an active administrator."""
    if actor is None:
        return
    if actor.is_authenticated and actor.is_active and actor.role == Role.ADMINISTRATOR:
        return
    raise AccountError(
        AccountError.Code.FORBIDDEN,
        _("Only an administrator may manage Open311 API keys."),
        kind=ErrorKind.FORBIDDEN,
    )


@transaction.atomic
def client_key_issue(
    *,
    actor: User | None,
    organization: Organization,
    name: str,
    rate_per_minute: int = 60,
    raw_key: str | None = None,
) -> tuple[ClientKey, str]:
    """Issue an Open311 ``api_key`` to a client organization; return the row and the raw key.

    The raw key (43 URL-safe characters) is shown once and never stored: the row keeps its
    SHA-256 hash and first 8 characters. Administrators only (``actor`` ``None`` is the command
    line). The organization must be active. Writes one audit record.

    ``raw_key`` registers a key the client already holds (moving clients over from another
    Open311 server, or the demo's published key) instead of generating one: 20 to 200
    printable characters without spaces, not already registered.
    """
    _require_administrator(actor)
    if not organization.is_active:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("Organization %(code)s is not active.") % {"code": organization.code},
            field="organization",
        )
    label = (name or "").strip()
    if not label or len(label) > CLIENT_KEY_NAME_MAX:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("Give the key a name of 1 to %(max)s characters.") % {"max": CLIENT_KEY_NAME_MAX},
            field="name",
        )
    if (
        not isinstance(rate_per_minute, int)
        or isinstance(rate_per_minute, bool)
        or not 1 <= rate_per_minute <= CLIENT_KEY_RATE_MAX
    ):
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("The rate limit must be a whole number of requests per minute from 1 to %(max)s.")
            % {"max": CLIENT_KEY_RATE_MAX},
            field="rate_per_minute",
        )
    raw = new_secret() if raw_key is None else _checked_raw_key(raw_key)
    key = ClientKey(
        organization=organization,
        name=label,
        prefix=raw[:TOKEN_PREFIX_LENGTH],
        key_hash=token_hash(raw),
        rate_per_minute=rate_per_minute,
        created_at=timezone.now(),
        created_by=actor,
    )
    key.full_clean()
    key.save()
    audit_record(
        actor=actor,
        action="accounts.client_key_issue",
        target=key,
        data={
            "organization": organization.code,
            "name": label,
            "prefix": key.prefix,
            "rate_per_minute": rate_per_minute,
        },
    )
    return key, raw


def _checked_raw_key(raw_key: str) -> str:
    raw = raw_key.strip()
    if not 20 <= len(raw) <= 200 or not raw.isprintable() or any(c.isspace() for c in raw):
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("A key is 20 to 200 printable characters without spaces."),
            field="raw_key",
        )
    if ClientKey.objects.filter(key_hash=token_hash(raw)).exists():
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("This key is already registered."),
            field="raw_key",
            kind=ErrorKind.CONFLICT,
        )
    return raw


@transaction.atomic
def client_key_revoke(*, actor: User | None, key: ClientKey) -> ClientKey:
    """Revoke a client key: POSTs with it are refused (403) at once. Revoking twice is refused
    (409). Cases it submitted keep pointing at it. Writes one audit record."""
    _require_administrator(actor)
    key = ClientKey.objects.select_for_update().select_related("organization").get(pk=key.pk)
    if key.revoked_at is not None:
        raise AccountError(
            AccountError.Code.REVOKED,
            _("This key was already revoked."),
            kind=ErrorKind.CONFLICT,
        )
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="accounts.client_key_revoke",
        target=key,
        data={"organization": key.organization.code, "name": key.name, "prefix": key.prefix},
    )
    return key


def client_key_authenticate(*, raw_key: str, now: dt.datetime | None = None) -> ClientKey | None:
    """The active key (of an active organization) that ``raw_key`` names, or ``None``.

    Looked up by hash. ``last_used_at`` is refreshed at most once a minute with a conditional
    UPDATE (not audited, like personal tokens).
    """
    raw = (raw_key or "").strip()
    if not raw or len(raw) > 200:
        return None
    key = (
        ClientKey.objects.select_related("organization")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True, organization__is_active=True)
        .first()
    )
    if key is None:
        return None
    _touch_last_used(key, now or timezone.now())
    return key


def client_key_throttle(*, key: ClientKey, now: dt.datetime | None = None) -> None:
    """Count one request against the key's per-minute limit; raise ``RATE_LIMITED`` (429,
    with ``details["retry_after"]`` in seconds) when the minute's allowance is used up.

    A fixed one-minute window in the cache: ``add`` then ``incr`` are atomic in Redis and
    within a process in the local-memory cache, so with several processes configure Redis
    (``CIVICGRID_CACHE_URL``) for the limit to be shared.
    """
    now = now or timezone.now()
    window = int(now.timestamp()) // 60
    name = f"client-key-rate:{key.pk}:{window}"
    cache.add(name, 0, timeout=120)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add and incr
        cache.set(name, 1, timeout=120)
        count = 1
    if count > key.rate_per_minute:
        retry_after = 60 - int(now.timestamp()) % 60
        raise AccountError(
            AccountError.Code.RATE_LIMITED,
            _(
                "This API key has sent more than %(rate)s requests this minute; try again in "
                "%(seconds)s seconds."
            )
            % {"rate": key.rate_per_minute, "seconds": retry_after},
            kind=ErrorKind.RATE_LIMITED,
            details={"retry_after": retry_after},
        )


ORGANIZATION_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ORGANIZATION_NAME_MAX = Organization._meta.get_field("name").max_length or 120


@transaction.atomic
def organization_create_client(
    *, actor: User | None, code: str, name: str, name_en: str = ""
) -> Organization:
    """Create an active organization of kind ``client`` (an app or partner platform that will
    hold Open311 keys). Administrators only (``actor`` ``None`` is the command line).

    ``code`` is 1 to 40 lower-case letters, digits, ``-`` or ``_`` and must be unused by any
    organization (refused with 409 otherwise); ``name`` 1 to 120 characters, ``name_en`` at
    most 120. Writes one audit record.
    """
    _require_administrator(actor)
    slug = (code or "").strip()
    if not ORGANIZATION_CODE_RE.match(slug):
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _(
                "An organization code is 1 to 40 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit."
            ),
            field="code",
        )
    label = (name or "").strip()
    if not label or len(label) > ORGANIZATION_NAME_MAX:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("Give the organization a name of 1 to %(max)s characters.")
            % {"max": ORGANIZATION_NAME_MAX},
            field="name",
        )
    label_en = (name_en or "").strip()
    if len(label_en) > ORGANIZATION_NAME_MAX:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("The English name has at most %(max)s characters.") % {"max": ORGANIZATION_NAME_MAX},
            field="name_en",
        )
    if Organization.objects.filter(code=slug).exists():
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("An organization with code %(code)s already exists.") % {"code": slug},
            field="code",
            kind=ErrorKind.CONFLICT,
        )
    organization = Organization(
        kind=OrganizationKind.CLIENT, code=slug, name=label, name_en=label_en, is_active=True
    )
    organization.full_clean()
    organization.save()
    audit_record(
        actor=actor,
        action="accounts.organization_create",
        target=organization,
        data={"code": slug, "kind": OrganizationKind.CLIENT.value, "name": label},
    )
    return organization
