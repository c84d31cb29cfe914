"""The NinjaAPI instance, its auth, its offline docs and the one mapping of errors to HTTP.

Every error leaves the API in one shape: ``{"error": {"code", "message", "field"?, ...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ninja
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template import engines
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser

from civicgrid.accounts.api import router as accounts_router
from civicgrid.accounts.auth import API_AUTH
from civicgrid.cases.api import public_router as cases_public_router
from civicgrid.cases.api import router as cases_router
from civicgrid.core.errors import CivicError
from civicgrid.geo.api import router as geo_public_router

# Swagger UI as django-ninja ships it, served from here: nothing comes from a CDN.
NINJA_STATIC = Path(ninja.__file__).parent / "static" / "ninja"
DOCS_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-init.js": "text/javascript",
    "favicon.png": "image/png",
}
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}</title>
  <link rel="stylesheet" href="{{ css }}">
  <link rel="icon" href="{{ icon }}">
</head>
<body data-csrf-token="{{ csrf_token }}" data-api-csrf="true">
  <script type="application/json" id="swagger-settings">{{ settings_json|safe }}</script>
  <div id="swagger-ui"></div>
  <script src="{{ bundle }}"></script>
  <script src="{{ init }}"></script>
</body>
</html>
"""


class OfflineSwagger(Swagger):
    """Swagger UI whose assets come from django-ninja's own package, served by this API.

    ninja's stock page takes them from ``{% static %}`` only when "ninja" is an installed app
    and from a CDN otherwise; this page works either way and never leaves the server.

    The page is for people who hold an account: an anonymous visitor goes to the login page and
    comes back. The schema (``openapi.json``) stays public for client generators and the
    contract tests (ninja's ``docs_decorator`` would close both).
    """

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        # "</" cannot end the JSON script block early.
        settings_json = json.dumps(settings).replace("</", "<\\/")

        def asset(name: str) -> str:
            return reverse(f"{api.urls_namespace}:docs_asset", kwargs={**kwargs, "name": name})

        template = engines["django"].from_string(DOCS_PAGE)
        context = {
            "title": api.title,
            "settings_json": settings_json,
            "css": asset("swagger-ui.css"),
            "icon": asset("favicon.png"),
            "bundle": asset("swagger-ui-bundle.js"),
            "init": asset("swagger-ui-init.js"),
        }
        return HttpResponse(template.render(context, request))


def _nul_paths(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Where in parsed input a text (or a key) holds the NUL character, depth first."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                yield where
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if isinstance(key, str) and "\x00" in key:
                    yield (*where, key.replace("\x00", "\\0"))
                else:
                    stack.append(((*where, str(key)), child))
        elif isinstance(item, list):
            stack.extend(((*where, str(i)), child) for i, child in reversed(list(enumerate(item))))


def _refuse_nul(data: Any, source: str) -> None:
    errors = [
        {"loc": where, "msg": _("Text must not contain the NUL character."), "type": "nul"}
        for where in _nul_paths(data, (source,))
    ]
    if errors:
        raise ValidationError(errors)


class TextParser(Parser):
    """ninja's parser, refusing the NUL character anywhere in text input (JSON bodies, query
    strings, form fields) with the usual ``400 invalid_input`` naming the field.

    PostgreSQL cannot store NUL in text and psycopg raises on it, so without this a NUL in any
    note, code or filter would be a server error on PostgreSQL and stored as-is on SQLite; one
    check here treats every endpoint alike on both.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        _refuse_nul(data, "body")  # ninja wraps it in HttpError; `http_error` unwraps it
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        _refuse_nul(result, "query")
        return result


api = NinjaAPI(
    title="civicgrid API",
    version="1",
    description=(
        "Cases, categories and accounts of civicgrid. Authenticate with "
        "`Authorization: Bearer <token>` (see `POST /auth/token` or `manage.py issue_token`) "
        "or, from the site's own pages, with the session cookie and the CSRF token. "
        "The `public` endpoints (`/public/...`) need no login and show only public data."
    ),
    urls_namespace="api",
    docs_url="/docs",
    docs=OfflineSwagger(settings={"persistAuthorization": False}),
    auth=API_AUTH,
    parser=TextParser(),
)


@api.get("/docs/assets/{name}", auth=None, include_in_schema=False, url_name="docs_asset")
def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    if name not in DOCS_ASSETS:
        raise Http404(name)
    response = FileResponse((NINJA_STATIC / name).open("rb"), content_type=DOCS_ASSETS[name])
    response["Cache-Control"] = "public, max-age=86400"
    return response


api.add_router("/auth", accounts_router)
api.add_router("/", cases_router)
api.add_router("/public", cases_public_router)
api.add_router("/public", geo_public_router)


def _error(
    request: HttpRequest, status: int, code: str, message: str, **extra: Any
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, **extra}}, status=status
    )


@api.exception_handler(CivicError)
def civic_error(request: HttpRequest, exc: CivicError) -> HttpResponse:
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.http_status)


# Parts of a pydantic error location that say where the value came from, not which field.
_LOCATION_WRAPPERS = frozenset(
    {"body", "query", "form", "file", "path", "header", "cookie", "payload", "filters"}
)


def _field_message(err: dict[str, Any]) -> str:
    """A field's message in the request's language, like the top message beside it.

    pydantic words its own messages in English only; the common kinds are worded here instead
    (with pydantic's limits), a message our validators raised is already translated, and any
    other kind keeps pydantic's words.
    """
    kind = str(err.get("type", ""))
    ctx = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in (err.get("ctx") or {}).items()
    }
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return str(ctx["error"])
    if kind == "missing":
        return _("This field is required.")
    if kind in ("string_too_long", "too_long"):
        return _("At most %(n)s characters.") % {"n": ctx.get("max_length", "?")}
    if kind in ("string_too_short", "too_short"):
        if ctx.get("min_length") == 1:
            return _("This field must not be empty.")
        return _("At least %(n)s characters.") % {"n": ctx.get("min_length", "?")}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("A whole number is needed.")
    if kind in ("float_parsing", "float_type", "finite_number"):
        return _("A number is needed.")
    if kind in ("bool_parsing", "bool_type"):
        return _("true or false is needed.")
    if kind in ("string_type",):
        return _("Text is needed.")
    if kind in ("greater_than_equal", "greater_than"):
        return _("Must be at least %(n)s.") % {"n": ctx.get("ge", ctx.get("gt", "?"))}
    if kind in ("less_than_equal", "less_than"):
        return _("Must be at most %(n)s.") % {"n": ctx.get("le", ctx.get("lt", "?"))}
    if kind in ("literal_error", "enum"):
        return _("Must be one of: %(choices)s.") % {"choices": ctx.get("expected", "?")}
    if kind in ("datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return _("A date and time such as 2026-12-04T09:30:00+08:00 is needed.")
    if kind in ("json_invalid",):
        return _("The body is not valid JSON.")
    if kind == "nul":
        return str(err.get("msg", ""))
    return str(err.get("msg", "invalid"))


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        parts = [str(p) for p in err.get("loc", ())]
        while parts and parts[0] in _LOCATION_WRAPPERS:
            parts.pop(0)
        errors.append({"field": ".".join(parts), "message": _field_message(err)})
    first = errors[0]["field"] if errors else ""
    return _error(
        request,
        400,
        "invalid_input",
        _("The input is not valid: %(fields)s.")
        % {"fields": ", ".join(e["field"] or "?" for e in errors)},
        field=first,
        fields=errors,
    )


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthenticated", _("Log in or send a valid API token."))


@api.exception_handler(Throttled)
def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = _error(request, 429, "rate_limited", _("Too many requests; try again later."))
    if exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait) + 1)
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ValidationError):
        # A check of TextParser.parse_body, which ninja wraps as "cannot parse the body".
        return validation_error(request, exc.__cause__)
    if exc.status_code == 403 and "csrf" in str(exc.message).lower():
        # ninja's session auth refuses a write without the CSRF token this way.
        return _error(
            request, 403, "csrf_failed", _("Send the CSRF token with session-authenticated calls.")
        )
    return _error(request, exc.status_code, f"http_{exc.status_code}", str(exc.message))


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", _("Not found."))
