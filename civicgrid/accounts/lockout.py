"""How django-axes sees logins here: which requests it checks and which address a client has.

The lockout itself (counting failures per username and address, refusing the pair for the
cool-off time) is django-axes; the settings are in ``config/settings/base.py`` and
docs/security.md explains them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.utils import reset as axes_reset
from django.conf import settings
from django.http import HttpRequest

# Set on a request whose login attempt was refused because the pair was already locked out,
# so the lockout answer can tell a new lockout (audited) from a refusal during one (not).
WAS_LOCKED_ATTR = "civicgrid_was_locked_out"


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check, first in ``AUTHENTICATION_BACKENDS``: a username+address pair that
    is locked out is refused before any password is compared.

    Two changes to axes' own backend:

    * ``authenticate()`` without a request (the test client's ``login()``, a shell) is not
      checked: there is no client address to count against, and axes would raise instead.
      Every login over HTTP passes the request (the login page, the token endpoint, the admin).
    * A refusal marks the request (:data:`WAS_LOCKED_ATTR`), so the lockout answer audits only
      the attempt that started a lockout, not every attempt made while it lasts.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        try:
            super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, WAS_LOCKED_ATTR, True)
            raise
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for lockouts: the socket's peer, or, behind
    ``CIVICGRID_TRUSTED_PROXY_COUNT`` proxies that each append to ``X-Forwarded-For``, the
    entry the outermost trusted proxy added. Entries further left were written by the client
    and are ignored; a malformed or missing entry falls back to the peer address.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.CIVICGRID_TRUSTED_PROXY_COUNT
    if count <= 0:
        return peer
    hops = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < count:
        return peer
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def ip_network(address: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address, for audit rows: enough to see where
    an attack came from and block it, without keeping the person's exact address forever in
    the append-only log. Empty for a missing or malformed address."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def lockout_reset_after_login(request: HttpRequest, username: str) -> int:
    """Forget the failed attempts of ``username`` from this request's address after a right
    password that did not go through ``login()`` (the token endpoint: no session, so axes'
    own reset on ``user_logged_in`` does not run). Returns how many rows went."""
    address = getattr(request, "axes_ip_address", None)
    if not (settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS and address):
        return 0
    return axes_reset(ip=address, username=username)
