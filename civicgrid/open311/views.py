"""The Open311 GeoReport v2 endpoints: parse (params) → look up or submit → render.

Plain Django views. Clients authenticate a POST with ``api_key`` only, never with cookies, so
the POST view is exempt from CSRF and nothing here reads the session or the logged-in user.
Every refusal is the standard's error list in the requested format (XML for an unknown one).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from civicgrid.accounts.services import client_key_authenticate, client_key_throttle
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Source
from civicgrid.cases.services import case_submit
from civicgrid.core import readcache
from civicgrid.core.datetimes import format_w3_datetime
from civicgrid.core.errors import CivicError, ErrorKind

from . import mapping, params, render, selectors
from .errors import Open311Error
from .feed import ATOM_CONTENT_TYPE, request_feed

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this server's interface last changed (the discovery changeset).
API_CHANGESET = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
SAFE_METHODS = ("GET", "HEAD")
# case_submit's field names → the Open311 parameter the client sent.
CASE_FIELD_PARAMS = {
    "category": "service_code",
    "address": "address_string",
    "lat": "lat",
    "lng": "long",
    "location": "lat",
    "reporter_name": "first_name",
    "reporter_phone": "phone",
}

View = Callable[..., HttpResponse]


def _case_param(field: str | None) -> str:
    if not field:
        return ""
    if field.startswith("attributes."):
        return f"attribute[{field.removeprefix('attributes.')}]"
    return CASE_FIELD_PARAMS.get(field, field)


def _error_response(fmt: str, exc: CivicError) -> HttpResponse:
    if isinstance(exc, Open311Error):
        return render.errors(fmt, exc.http_status, exc.problems)
    if isinstance(exc, CaseError):  # input the case service refused: always the client's fault
        return render.errors(fmt, 400, [(_case_param(exc.field), exc.message)])
    headers = {}
    if exc.kind == ErrorKind.RATE_LIMITED:
        headers["Retry-After"] = str(exc.details.get("retry_after", 60))
    return render.errors(fmt, exc.http_status, [(exc.field or "", exc.message)], headers=headers)


def open311_endpoint(*methods: str) -> Callable[[View], View]:
    """Wrap an Open311 view: check the format suffix (``fmt``) and the method, turn every
    :class:`CivicError` into the standard's error list, mark GET answers as public data
    (``Access-Control-Allow-Origin: *``). Exempt from CSRF: POSTs carry an ``api_key``."""
    allowed = tuple(methods) + (("HEAD",) if "GET" in methods else ())

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            fmt = kwargs.get("fmt", "xml")
            out = fmt if fmt in params.FORMATS else "xml"
            try:
                if "fmt" in kwargs:
                    params.check_format(fmt)
                params.check_characters(request.GET)
                if request.method not in allowed:
                    message = _("Use %(methods)s here.") % {"methods": ", ".join(methods)}
                    response = render.errors(out, 405, [("", message)])
                    response["Allow"] = ", ".join(allowed)
                else:
                    response = view(request, *args, **kwargs)
            except CivicError as exc:
                response = _error_response(out, exc)
            if request.method in SAFE_METHODS:
                response["Access-Control-Allow-Origin"] = "*"
            return response

        return csrf_exempt(wrapper)

    return decorate


# --------------------------------------------------------------------------- discovery, services


def _discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    changeset = format_w3_datetime(API_CHANGESET)
    data = {
        "changeset": changeset,
        "contact": settings.CIVICGRID_OPEN311_CONTACT
        or _("Contact the platform's administrator for help with this interface."),
        "key_service": settings.CIVICGRID_OPEN311_KEY_SERVICE
        or _("Ask the platform's administrator for an API key (api_key)."),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": request.build_absolute_uri(reverse("open311:endpoint")),
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render.respond(fmt, "discovery", data)


@open311_endpoint("GET")
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    """``GET discovery.{fmt}``: where the endpoint is, which formats, whom to ask for a key."""
    return _discovery(request, fmt)


@open311_endpoint("GET")
def endpoint(request: HttpRequest) -> HttpResponse:
    """The endpoint's base URL itself: the discovery document, in XML."""
    return _discovery(request, "xml")


@open311_endpoint("GET")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    """``GET services.{fmt}``: one service per public, active leaf category."""
    params.check_jurisdiction(request.GET)
    data = [mapping.service_fields(c, ancestors) for c, ancestors in selectors.service_list()]
    return render.respond(fmt, "services", data)


@open311_endpoint("GET")
def service_definition(request: HttpRequest, fmt: str, code: str) -> HttpResponse:
    """``GET services/{code}.{fmt}`` (and ``service/{code}.{fmt}``): the service's attributes."""
    params.check_jurisdiction(request.GET)
    category = selectors.service_by_code(code)
    if category is None:
        raise Open311Error(
            Open311Error.Code.NOT_FOUND,
            _("No service %(code)s.") % {"code": code[:40]},
            field="service_code",
            kind=ErrorKind.NOT_FOUND,
        )
    return render.respond(fmt, "service_definition", mapping.definition_fields(category))


# --------------------------------------------------------------------------- requests


@open311_endpoint("GET", "POST")
def requests(request: HttpRequest, fmt: str) -> HttpResponse:
    """``GET requests.{fmt}`` lists requests; ``POST requests.{fmt}`` creates one."""
    if request.method == "POST":
        return _create(request, fmt)
    params.check_jurisdiction(request.GET)
    query = params.parse_request_query(request.GET, now=timezone.now())

    def build() -> tuple[bytes, str]:
        cases = selectors.request_list(query)
        absolute = request.build_absolute_uri
        data = [
            mapping.request_fields(c, absolute=absolute, with_notes=query.extensions) for c in cases
        ]
        return render.encode(fmt, "service_requests", data)

    # The same public list for every caller: kept briefly, keyed by everything it depends on
    # (the parameters as sent, so a default window keeps its key while it slides).
    parts = (
        "open311.requests",
        fmt,
        get_language(),
        request.scheme,
        request.get_host(),
        sorted(request.GET.lists()),
    )
    body, content_type = readcache.cached(readcache.CASES, parts, build)
    return render.respond_encoded(body, content_type)


def _bad(field: str, message: str) -> Open311Error:
    return Open311Error.invalid([(field, message)])


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    """Every check (content type, key, rate, jurisdiction, fields, lookups) comes before
    ``case_submit``, which validates everything before it writes: a refusal saves nothing.

    ``address_id`` (a grid-cell code) gives the point when ``lat``/``long`` are absent and the
    address when ``address_string`` is. A request without a description (optional in the
    standard) is described by its service name, since every case has a description.
    """
    form = params.form_of(request)
    params.check_characters(form)
    key = client_key_authenticate(raw_key=params.api_key_of(request.GET, form))
    if key is None:
        raise Open311Error(
            Open311Error.Code.BAD_API_KEY,
            _("A valid api_key is required to submit a request."),
            field="api_key",
            kind=ErrorKind.FORBIDDEN,
        )
    client_key_throttle(key=key)
    params.check_jurisdiction(form, request.GET)
    idempotency_key = params.idempotency_key_of(request)
    new = params.parse_new_request(form)
    category = selectors.service_by_code(new.service_code)
    if category is None:
        raise _bad(
            "service_code", _("Unknown service_code %(code)s.") % {"code": new.service_code[:40]}
        )
    lat, lng, address = new.lat, new.lng, new.address_string
    if new.address_id:
        cell = selectors.cell_for_address_id(new.address_id)
        if cell is None:
            raise _bad("address_id", _("Unknown address_id %(code)s.") % {"code": new.address_id})
        if lat is None or lng is None:
            lat, lng = selectors.cell_inner_point(cell)
        address = address or cell.name or cell.code
    submission = case_submit(
        actor=None,
        category=category,
        description=new.description or category.display_name,
        lat=lat,
        lng=lng,
        address=address,
        source=Source.OPEN311,
        client_key=key,
        is_anonymous=new.is_anonymous,
        reporter_name=new.reporter_name,
        reporter_phone=new.phone,
        reporter_email=new.email,
        client_ref=new.client_ref,
        media_url=new.media_url,
        attributes=new.attributes,
        submission_key=f"o311:{key.pk}:{idempotency_key}" if idempotency_key else None,
    )
    case = submission.case
    data = [mapping.created_fields(case, mapping.request_token(case))]
    return render.respond(fmt, "service_requests", data)


@open311_endpoint("GET")
def request_detail(request: HttpRequest, fmt: str, request_id: str) -> HttpResponse:
    """``GET requests/{id}.{fmt}``: a one-element list, or 404."""
    params.check_jurisdiction(request.GET)
    with_notes = params.parse_extensions(request.GET)
    case = selectors.request_by_number(request_id, with_notes=with_notes)
    if case is None:
        raise Open311Error(
            Open311Error.Code.NOT_FOUND,
            _("No service request %(id)s.") % {"id": request_id[:40]},
            field="service_request_id",
            kind=ErrorKind.NOT_FOUND,
        )
    fields = mapping.request_fields(
        case, absolute=request.build_absolute_uri, with_notes=with_notes
    )
    return render.respond(fmt, "service_requests", [fields])


@open311_endpoint("GET")
def token(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    """``GET tokens/{token}.{fmt}``: the request id behind a token from ``POST requests``."""
    params.check_jurisdiction(request.GET)
    number = mapping.token_number(token)
    case = selectors.request_by_number(number) if number else None
    if case is None:
        raise Open311Error(
            Open311Error.Code.NOT_FOUND,
            _("No service request for this token."),
            field="token",
            kind=ErrorKind.NOT_FOUND,
        )
    data = [{"service_request_id": case.number, "token": mapping.request_token(case)}]
    return render.respond(fmt, "service_requests", data)


@open311_endpoint("GET")
def feed(request: HttpRequest) -> HttpResponse:
    """``GET requests.atom``: the latest new and closed requests as an Atom 1.0 feed."""
    body = request_feed(
        selectors.feed_events(),
        absolute=request.build_absolute_uri,
        feed_path=request.path,
    )
    return HttpResponse(body, content_type=ATOM_CONTENT_TYPE)


@csrf_exempt
def not_found(request: HttpRequest, path: str) -> HttpResponse:
    """Anything else under /open311/, whatever the method: 404 in the standard's error format
    (JSON when the path ends in ``.json``, else XML)."""
    fmt = "json" if path.endswith(".json") else "xml"
    return render.errors(fmt, 404, [("", _("No such Open311 resource."))])
