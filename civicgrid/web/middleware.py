"""The second factor, enforced for every page: a staff session that owes its code (see
``two_factor_required``) reaches only the steps that pay it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from civicgrid.accounts.models import User
from civicgrid.accounts.services import two_factor_required

from .security_views import second_factor_url

# Views a session that owes its second factor may still use: the steps themselves, leaving,
# and the header's language and text-size switches; the probes answer without a user anyway.
EXEMPT_VIEWS = frozenset(
    {
        "web:login",
        "web:logout",
        "web:two_factor_verify",
        "web:two_factor_setup",
        "web:large_text",
        "set_language",
        "admin:logout",
        "healthz",
        "readyz",
        "metrics",
    }
)
# Pages: sent on to the code (or set-up) page and back to where they were going afterwards.
PAGE_NAMESPACES = frozenset({"web", "admin"})


async def _anonymous() -> AnonymousUser:
    return AnonymousUser()


class StaffTwoFactorMiddleware:
    """After ``OTPMiddleware`` (which says whether the session passed a code): a logged-in
    user who must pass one and has not (two-factor "required" for staff, or "optional" for
    staff who enrolled) is

    * sent to the code page, or the set-up page when they have no authenticator yet, from any
      page of the site or the admin (htmx requests by ``HX-Redirect``), with ``next`` set so
      they land where they were going;
    * treated as logged out everywhere else (the JSON API, Open311): the session does not
      count, so the call is answered as anonymous. Bearer-token calls authenticate with their
      token later and are not affected.

    Verified sessions, residents and two-factor "off" pass untouched. The check costs no query
    for a verified session and at most one for an unverified staff session.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        if request.user.is_verified():  # type: ignore[attr-defined]  # set by OTPMiddleware
            return None
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT_VIEWS:
            return None
        user = cast(User, request.user)
        if not two_factor_required(user=user):
            return None
        if match is not None and match.namespace in PAGE_NAMESPACES:
            # A form posted from an old page cannot be replayed: back to the start page then.
            here = request.get_full_path() if request.method in ("GET", "HEAD") else "/"
            target = second_factor_url(user, here)
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(target)
            return redirect(target)
        request.user = AnonymousUser()
        request.auser = _anonymous  # as AuthenticationMiddleware sets it
        return None
