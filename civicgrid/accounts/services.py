"""Writers of the accounts tables: personal API tokens, Open311 client keys, staff second
factors (django-otp devices), and the audit of login lockouts."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from civicgrid.core.errors import ErrorKind
from civicgrid.core.models import AuditRecord
from civicgrid.core.services import audit_record

from .errors import AccountError
from .lockout import ip_network
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


# --------------------------------------------------------------------------- login lockouts


def login_lockout_record(
    *, username: str, ip_address: str | None, failures: int | None, path: str
) -> AuditRecord:
    """Audit the start of one lockout: ``username`` from ``ip_address`` failed to log in
    ``failures`` times and is refused for the cool-off time (django-axes counts and refuses;
    docs/security.md).

    Called once per lockout, by the answer that tells the client it is locked out (the
    attempts refused while the lockout lasts are counted by django-axes, not audited). The row
    names the account when it exists (the attempt may name none) and keeps the client's
    network (/24 or /48), not its exact address. The actor is anonymous: nobody is logged in.
    Commits on its own, whatever the request does next. Writes one audit record.
    """
    user = User.objects.filter(username=username).first() if username else None
    return audit_record(
        actor=AnonymousUser(),
        action="accounts.login_lockout",
        target=user,
        data={
            "username": username[:150],
            "network": ip_network(ip_address),
            "failures": failures,
            "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
            "path": path[:200],
        },
    )


def login_lockout_error() -> AccountError:
    """The refusal while a username+address pair is locked out: 429, with the wait in
    ``details["retry_after"]`` (seconds; each attempt while locked restarts the wait)."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, seconds // 60)
    return AccountError(
        AccountError.Code.LOCKED_OUT,
        ngettext(
            "Too many failed logins for this account from your address. Wait %(minutes)s "
            "minute, then try again.",
            "Too many failed logins for this account from your address. Wait %(minutes)s "
            "minutes, then try again.",
            minutes,
        )
        % {"minutes": minutes},
        kind=ErrorKind.RATE_LIMITED,
        details={"retry_after": seconds},
    )


# --------------------------------------------------------------------------- staff two-factor

TWO_FACTOR_REQUIRED = "required"
TWO_FACTOR_OPTIONAL = "optional"
TWO_FACTOR_OFF = "off"
TOTP_DEVICE_NAME = "authenticator"
BACKUP_DEVICE_NAME = "backup codes"
BACKUP_CODE_COUNT = 10
TOTP_CODE_RE = re.compile(r"^\d{6}$")
BACKUP_CODE_RE = re.compile(r"^[a-z2-7]{8}$")


def two_factor_mode() -> str:
    """``CIVICGRID_STAFF_2FA``: "required", "optional" or "off" (checked when settings load)."""
    return str(settings.CIVICGRID_STAFF_2FA)


def two_factor_applies_to(user: User) -> bool:
    """Staff for the second factor: every role but resident, and anyone who may enter the
    admin site whatever their role."""
    return bool(user.is_active and (user.is_staff_role or user.is_staff or user.is_superuser))


def _confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_required(*, user: User) -> bool:
    """Whether a session of ``user`` must pass a code before it may do anything else.

    "off": never. Otherwise only staff (:func:`two_factor_applies_to`): always under
    "required" (a staff member without an authenticator is sent to enrol), and under
    "optional" when they have enrolled one. One query under "optional", none otherwise.
    """
    mode = two_factor_mode()
    if mode == TWO_FACTOR_OFF or not two_factor_applies_to(user):
        return False
    if mode == TWO_FACTOR_REQUIRED:
        return True
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_status(*, user: User) -> dict[str, Any]:
    """What the account page shows: the confirmed authenticator (or ``None``), since when,
    and how many unused backup codes are left."""
    device = _confirmed_totp(user)
    static = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return {
        "device": device,
        "enrolled_at": device.created_at if device is not None else None,
        "backup_codes_left": static.token_set.count() if static is not None else 0,
    }


def _refuse_enrolment(actor: User | None, user: User) -> None:
    if two_factor_mode() == TWO_FACTOR_OFF:
        raise AccountError(
            AccountError.Code.FORBIDDEN,
            _("Two-factor authentication is turned off on this site."),
            kind=ErrorKind.FORBIDDEN,
        )
    if actor is None or actor.pk != user.pk or not two_factor_applies_to(user):
        # Only the person holding the phone may enrol it: whoever sees the secret holds the key.
        raise AccountError(
            AccountError.Code.FORBIDDEN,
            _("Staff enrol their own authenticator, after logging in."),
            kind=ErrorKind.FORBIDDEN,
        )
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("This account already has an authenticator; remove it first to enrol another."),
            kind=ErrorKind.CONFLICT,
        )


@transaction.atomic
def totp_device_start(*, actor: User | None, user: User) -> TOTPDevice:
    """Begin enrolling an authenticator app: the user's unconfirmed TOTP device with its secret
    (made on the first call, the same one on later calls, so a page shown again after a wrong
    code still matches the phone).

    The user enrols for themself (``actor`` is ``user``), must be staff, two-factor must not be
    "off", and they must not have a confirmed authenticator (409). An unconfirmed device opens
    nothing: it is never asked for at login and :func:`totp_device_confirm` is the step that
    counts, so this writes no audit record.
    """
    _refuse_enrolment(actor, user)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is not None:
        return device
    device = TOTPDevice(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    device.full_clean()
    device.save()
    return device


def _clean_code(token: str, *, field: str = "code") -> str:
    code = "".join(str(token or "").split()).lower()
    if not code:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("Enter the code from your authenticator app."),
            field=field,
        )
    if len(code) > 16:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("A code is 6 digits, or a backup code of 8 letters and digits."),
            field=field,
        )
    return code


def _code_refused(
    *, user: User, stage: str, device: str, allowed: bool, info: dict[str, Any] | None
) -> AccountError:
    """Audit one wrong (or too early) code, then the error to raise. Runs outside the
    verifying transaction, so the record and the device's throttle both commit."""
    retry_after = 0
    locked_until = (info or {}).get("locked_until")
    if not allowed and locked_until is not None:
        retry_after = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    audit_record(
        actor=user,
        action="accounts.two_factor_failed",
        target=user,
        data={"stage": stage, "device": device, "throttled": not allowed},
    )
    if not allowed:
        return AccountError(
            AccountError.Code.RATE_LIMITED,
            ngettext(
                "Too many wrong codes. Wait %(seconds)s second, then enter a new code.",
                "Too many wrong codes. Wait %(seconds)s seconds, then enter a new code.",
                retry_after,
            )
            % {"seconds": retry_after},
            field="code",
            kind=ErrorKind.RATE_LIMITED,
            details={"retry_after": retry_after},
        )
    return AccountError(
        AccountError.Code.BAD_CREDENTIALS,
        _("That code is not correct. Enter the code your app shows now."),
        field="code",
    )


def totp_device_confirm(
    *, actor: User | None, user: User, token: str
) -> tuple[TOTPDevice, list[str]]:
    """Finish enrolling: ``token`` must be the current code of the unconfirmed device from
    :func:`totp_device_start`. Confirms it and makes 10 single-use backup codes (8 characters
    each, for a lost phone), returned once in clear (django-otp stores them as they are, like
    the TOTP secret, so the database must be kept as private as the password hashes).

    A wrong code is refused (400) and a code tried too soon after wrong ones is refused (429,
    ``retry_after``); each refusal writes one ``accounts.two_factor_failed`` record and
    counts towards django-otp's throttle (1, 2, 4… seconds). Success writes one
    ``accounts.two_factor_enrol`` record. Same preconditions as :func:`totp_device_start`.
    """
    _refuse_enrolment(actor, user)
    code = _clean_code(token)
    if not TOTP_CODE_RE.match(code):
        raise AccountError(
            AccountError.Code.BAD_INPUT, _("The code from the app has 6 digits."), field="code"
        )
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            raise AccountError(
                AccountError.Code.BAD_INPUT,
                _("Enrolment was not started or has ended; open the set-up page again."),
            )
        allowed, info = device.verify_is_allowed()
        if allowed and device.verify_token(code):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _backup_codes_replace(user)
            audit_record(
                actor=actor,
                action="accounts.two_factor_enrol",
                target=user,
                data={"device": "totp", "backup_codes": len(codes)},
            )
            return device, codes
    raise _code_refused(user=user, stage="enrol", device="totp", allowed=allowed, info=info)


def _backup_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    return codes


def two_factor_verify(*, user: User, token: str, stage: str = "login") -> Device:
    """The device that accepts ``token`` for ``user``: the authenticator for 6 digits, the
    backup codes for 8 letters and digits (a backup code works once). The caller marks the
    session verified with ``django_otp.login``.

    The user must have a confirmed authenticator (else 400 and nothing written). A wrong code
    is refused (400) and one tried too soon after wrong ones (429, ``retry_after``); each
    refusal writes one ``accounts.two_factor_failed`` record (``stage`` says where: "login",
    "token" or "remove") and counts towards django-otp's throttle of that device. A success
    writes nothing here: the login is recorded by django-axes' access log.
    """
    code = _clean_code(token)
    model: type[TOTPDevice] | type[StaticDevice]
    if TOTP_CODE_RE.match(code):
        model, kind = TOTPDevice, "totp"
    elif BACKUP_CODE_RE.match(code):
        model, kind = StaticDevice, "backup"
    else:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("A code is 6 digits, or a backup code of 8 letters and digits."),
            field="code",
        )
    if _confirmed_totp(user) is None:
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("This account has no authenticator."),
            field="code",
        )
    allowed, info = True, None
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is not None:
            allowed, info = device.verify_is_allowed()
            if allowed and device.verify_token(code):
                return device
    raise _code_refused(user=user, stage=stage, device=kind, allowed=allowed, info=info)


def _is_administrator(actor: User) -> bool:
    return bool(actor.is_authenticated and actor.is_active and actor.role == Role.ADMINISTRATOR)


def two_factor_remove(*, actor: User | None, user: User, token: str = "") -> int:
    """Remove the user's authenticator and backup codes; return how many devices went.

    The user removes their own with a current code (or a backup code), checked as in
    :func:`two_factor_verify` (wrong codes audited and throttled), so a session left open is
    not enough to drop the second factor. An administrator (or the command line, ``actor``
    ``None``) removes anyone's without a code: the way back for a lost phone. Under "required"
    the user enrols again at the next page. Nothing to remove is refused (409). Writes one
    ``accounts.two_factor_remove`` record.
    """
    by_self = actor is not None and actor.pk == user.pk
    if actor is not None and not by_self and not _is_administrator(actor):
        raise AccountError(
            AccountError.Code.FORBIDDEN,
            _("Only the user or an administrator may remove this user's authenticator."),
            kind=ErrorKind.FORBIDDEN,
        )
    if not TOTPDevice.objects.filter(user=user).exists():
        raise AccountError(
            AccountError.Code.BAD_INPUT,
            _("This account has no authenticator to remove."),
            kind=ErrorKind.CONFLICT,
        )
    if by_self:
        two_factor_verify(user=user, token=token, stage="remove")
    with transaction.atomic():
        removed = 0
        for model in (TOTPDevice, StaticDevice):
            count, _per_model = model.objects.filter(user=user).delete()
            removed += count
        audit_record(
            actor=actor,
            action="accounts.two_factor_remove",
            target=user,
            data={"user": user.username, "by_self": by_self},
        )
    return removed
