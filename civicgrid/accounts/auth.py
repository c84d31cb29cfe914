"""How API requests authenticate: a personal token, or the browser session with CSRF."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from .models import User
from .services import api_token_authenticate


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` with a token issued by ``api_token_issue``.

    No CSRF check: a browser never attaches this header on its own, so a forged cross-site
    request cannot carry it.
    """

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = api_token_authenticate(raw_token=token)
        if found is None:
            return None
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]  # read by DELETE /auth/token
        return found.user


class SessionCsrfAuth(SessionAuth):
    """ninja's ``django_auth`` (the logged-in session, CSRF enforced on unsafe methods) that
    stays silent when there is no session cookie at all.

    ``django_auth`` runs the CSRF check before it looks at the session, so a request with no
    credentials would get a 403 "CSRF failed" instead of 401. Requests without a session
    cookie cannot be session-authenticated anyway, so they skip straight to "unauthenticated".
    """

    def __call__(self, request: HttpRequest) -> Any | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().__call__(request)


api_token_auth = ApiTokenAuth()
session_auth = SessionCsrfAuth()
# Token first: a client sending a token never depends on cookies it may also hold.
API_AUTH = [api_token_auth, session_auth]
