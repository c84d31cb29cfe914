"""The site's own error pages: 400, 403, 404, 500 and a refused CSRF check.

Each page says in the reader's language what happened and what to do next, with the site's
header and footer, and never shows the site's URL patterns, settings or a traceback (those are
Django's debug pages, which appear only when a developer sets ``DJANGO_DEBUG=1``). Under
``/api/`` the answer is the API's JSON error shape instead, so a client never parses HTML.

The 500 page is drawn from a template that needs neither the database nor the session: when
the error came from either, the page must still render.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _page(
    request: HttpRequest, status: int, *, title: str, message: str, show_login: bool = False
) -> HttpResponse:
    context = {
        "status": status,
        "title": title,
        "message": message,
        "show_login": show_login and not request.user.is_authenticated,
        "next_path": request.get_full_path(),
    }
    html = loader.render_to_string("web/errors/error.html", context, request=request)
    return HttpResponse(html, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _(
        "The request could not be understood. Go back, check what you entered and try again."
    )
    if _wants_json(request):
        return _json(400, "bad_request", message)
    return _page(request, 400, title=_("Something in the request is wrong"), message=message)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _(
        "Your account cannot open this page. If you think it should, ask your community's "
        "administrator."
    )
    if _wants_json(request):
        return _json(403, "forbidden", message)
    return _page(
        request, 403, title=_("You cannot open this page"), message=message, show_login=True
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _(
        "There is no page at this address, or your account cannot open it. Check the address, "
        "or start again from the home page."
    )
    if _wants_json(request):
        return _json(404, "not_found", _("Not found."))
    return _page(request, 404, title=_("Page not found"), message=message, show_login=True)


def server_error(request: HttpRequest) -> HttpResponse:
    message = _(
        "Something went wrong on our side and nothing you sent was lost or half-saved. "
        "Try again in a minute; if it happens again, tell your community office."
    )
    if _wants_json(request):
        return _json(500, "server_error", message)
    html: str
    try:
        html = loader.render_to_string(
            "web/errors/500.html", {"title": _("Something went wrong"), "message": message}
        )
    except Exception:  # the page of last resort: a broken template must not hide the error
        logger.exception("the 500 page could not be rendered")
        html = "<!doctype html><title>500</title><h1>500</h1>"
    return HttpResponse(html, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the form was sent without a valid token (an old tab, a page kept
    open across a login, cookies blocked)."""
    message = _(
        "The form could not be sent because the page was open for too long or your browser "
        "blocks cookies. Go back, reload the page and send it again: nothing was saved."
    )
    if _wants_json(request):
        return _json(403, "csrf_failed", _("Send the CSRF token with session-authenticated calls."))
    return _page(request, 403, title=_("The form has expired"), message=message)
