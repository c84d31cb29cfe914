"""The authorization matrix: every URL and every API operation, for every principal.

One table per kind of operation; a row is a URL (or an API operation), a column a principal, a
cell the expected outcome. The tests walk the tables with Django's test ``Client`` and collect
every mismatching cell before asserting, so one failing run shows the whole picture (and the
row as it came out, ready to paste when the change is intended).

``test_every_url_and_operation_has_a_row`` walks the URL resolver and the JSON API's
operations: a URL pattern, an API operation or a workflow step without a row fails it, so a
new URL cannot be added without saying who may use it. And
``test_a_url_that_takes_posts_has_a_post_row`` sends a POST to every page that has only a GET
row: one that does not answer 405 needs a row in :data:`WRITES`.

Columns (``PRINCIPALS``), abbreviated in the table headers:

    anon   nobody logged in
    res    ``resident``, the reporter of the case
    res2   ``resident2``, another resident
    grid   ``grid_worker``         oper   ``operator``         shft  ``shift_leader``
    disp   ``dispatcher``          sup    ``supervisor``       comm  ``committee_member``
    cln    ``clean_handler``, the unit the case is dispatched to (clean-co)
    lgt    ``lights_handler``, another contractor
    othr   ``other_operator``, an operator of another community
    adm    ``admin`` (the only one with Django's ``is_staff``)

Outcome codes:

    ok     2xx
    log    302 to the login page (pages behind ``roles_required``, anonymous)
    alog   302 to the admin's login page (the admin site, anyone but staff)
    home   302 to the home page
    case   302 to a case page (a web workflow step that was done, a report filed)
    keys   302 to the key list (a key revoked)
    aidx   302 to the admin's index; achg to an object's change page; alst to a model's list
    400 401 403 404 405 409   that status (401: the API without credentials; 403: a workflow
           step refused by the service, or a credential refused; 404: missing, or forbidden:
           the two look the same for ``roles_required`` and ``access_case``)

The world, built once for the module inside a transaction rolled back at its end:
``build_world(second_community=True)``; the case of the read rows, a rubbish report (routed to
clean-co) by ``resident`` with a photo and personal data, walked to ``dispatched`` so that
``clean_handler`` holds it; one case in every state of the workflow
(:mod:`tests.workflow_states`) for the write rows; a client key; an API token and a session
per principal. Every API read is made twice, with the session and with a Bearer token: both
must give the same answer. Every write runs in a savepoint rolled back afterwards, so each
principal meets the case in the state the row names: an allowed principal must change the
database (and move the case where the row says), a refused one must change nothing (cases,
traces, requests, photos, followers, ratings, audit records, tokens, keys, sessions...).

Where the code's behaviour is a bug rather than a choice, the row is ``xfail(strict=True)``
with the reason, and the table says what the code should do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from civicgrid.accounts.models import ApiToken, ClientKey
from civicgrid.accounts.services import (
    api_token_issue,
    client_key_issue,
    organization_create_client,
)
from civicgrid.cases.models import Case, CasePhoto, CaseRequest, Status
from civicgrid.cases.schemas import mask_email, mask_name, mask_phone
from civicgrid.cases.tests.factories import PASSWORD, World, build_world, photo, upload
from civicgrid.config.api import api
from civicgrid.geo.models import GridCell, GridRole
from civicgrid.geo.services import grid_member_add
from civicgrid.open311.mapping import request_token
from civicgrid.web.context_processors import LARGE_TEXT_COOKIE
from civicgrid.web.forms import STEP_FORMS
from tests.workflow_states import case_in_state, cases_in_every_state

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous",
    "resident",
    "resident2",
    "grid_worker",
    "operator",
    "shift_leader",
    "dispatcher",
    "supervisor",
    "committee_member",
    "clean_handler",
    "lights_handler",
    "other_operator",
    "admin",
)

# The reporter's personal data on the case (distinct from the resident's profile).
REPORTER_NAME = "王小明"
REPORTER_PHONE = "13912345678"
REPORTER_EMAIL = "wang.xiaoming@example.com"
METRICS_TOKEN = "matrix-metrics-token-3f9a"
NOTE = "矩阵测试"


@dataclass(frozen=True)
class Op:
    """One request of a row. ``url`` may hold {case} (the number of the row's case: the one
    in ``state``, else the read rows' case), {photo}, {key}, {lat}, {lng}, {token}, {user},
    {cell}... (see ``build_matrix``). ``body`` builds the data for a principal; ``encoding``
    is how it is sent; ``transports`` the credentials an API row is tried with."""

    url: str
    method: str = "GET"
    state: str | None = None
    body: Callable[[Matrix, str], Any] | None = None
    encoding: str = ""  # json | multipart | form (urlencoded); default json for /api/
    cookie: str = ""  # a cookie an allowed request sets (when it stores nothing)
    transports: tuple[str, ...] = ("session",)
    headers: Callable[[Matrix, str], dict[str, str]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    done: str | None = None  # the case's status after an allowed write
    writes: str | None = None  # y/n per principal when it does not follow from the outcome


def api_read(url: str) -> Op:
    return Op(url, transports=("session", "bearer"))


# --------------------------------------------------------------------------- reads

ROUTES: dict[str, Op] = {
    # pages
    "web home": Op("/"),
    "web public cases": Op("/public/cases/"),
    "web my cases": Op("/my/"),
    "web queue": Op("/queue/"),
    "web report": Op("/report/"),
    "web report quest.": Op("/report/questions/?category=E0101"),
    "web report dups": Op("/report/duplicates/?category=E0101&lat={lat}&lng={lng}"),
    "web case detail": Op("/cases/{case}/"),
    "web case photo": Op("/cases/{case}/photos/{photo}/"),
    "web keys": Op("/keys/"),
    "web key revoke": Op("/keys/{key}/revoke/"),
    "web map cells": Op("/map/cells.geojson"),
    "web basemap": Op("/map/basemap.geojson"),
    "web login": Op("/accounts/login/"),
    "web security": Op("/accounts/security/"),
    "web 2fa code": Op("/accounts/two-factor/"),
    "web 2fa setup": Op("/accounts/two-factor/setup/"),
    "web logout": Op("/accounts/logout/"),
    "web large text": Op("/prefs/large-text/"),
    "i18n setlang": Op("/i18n/setlang/"),
    # JSON API reads, and its documents
    "api auth/me": api_read("/api/v1/auth/me"),
    "api categories": api_read("/api/v1/categories"),
    "api cases": api_read("/api/v1/cases"),
    "api queue": api_read("/api/v1/cases/queue"),
    "api duplicates": api_read("/api/v1/cases/duplicates?category=E0101&lat={lat}&lng={lng}"),
    "api case detail": api_read("/api/v1/cases/{case}"),
    "api timeline": api_read("/api/v1/cases/{case}/timeline"),
    "api photo": api_read("/api/v1/cases/{case}/photos/{photo}"),
    "api public cases": api_read("/api/v1/public/cases"),
    "api public case": api_read("/api/v1/public/cases/{case}"),
    "api public categ.": api_read("/api/v1/public/categories"),
    "api public cells": api_read("/api/v1/public/cells"),
    # the API's documents take no credentials: one transport is enough
    "api root": Op("/api/v1/"),
    "api openapi": Op("/api/v1/openapi.json"),
    "api docs": Op("/api/v1/docs"),
    "api docs asset": Op("/api/v1/docs/assets/swagger-ui.css"),
    # Open311 (no credentials; cookies are ignored)
    "o311 discovery": Op("/open311/discovery.json"),
    "o311 endpoint": Op("/open311/v2/"),
    "o311 v2 discovery": Op("/open311/v2/discovery.xml"),
    "o311 services": Op("/open311/v2/services.json"),
    "o311 service": Op("/open311/v2/services/E0101.json"),
    "o311 requests": Op("/open311/v2/requests.json"),
    "o311 request": Op("/open311/v2/requests/{case}.json"),
    "o311 req. notes": Op("/open311/v2/requests/{case}.json?extensions=true"),
    "o311 token": Op("/open311/v2/tokens/{token}.json"),
    "o311 feed": Op("/open311/v2/requests.atom"),
    "o311 unknown": Op("/open311/v2/nothing.json"),
    # operations
    "healthz": Op("/healthz"),
    "readyz": Op("/readyz"),
    # /metrics: nobody by default; a direct client of an allowed network; the token's bearer
    "metrics default": Op(
        "/metrics",
        settings={"CIVICGRID_METRICS_TOKEN": "", "CIVICGRID_METRICS_ALLOWED_NETWORKS": []},
    ),
    "metrics allowlist": Op(
        "/metrics",
        settings={
            "CIVICGRID_METRICS_TOKEN": "",
            "CIVICGRID_METRICS_ALLOWED_NETWORKS": ["127.0.0.0/8"],
        },
    ),
    "metrics proxied": Op(
        "/metrics",
        settings={
            "CIVICGRID_METRICS_TOKEN": "",
            "CIVICGRID_METRICS_ALLOWED_NETWORKS": ["127.0.0.0/8"],
        },
        headers=lambda m, p: {"X-Forwarded-For": "203.0.113.9"},
    ),
    "metrics no token": Op("/metrics", settings={"CIVICGRID_METRICS_TOKEN": METRICS_TOKEN}),
    "metrics its token": Op(
        "/metrics",
        settings={"CIVICGRID_METRICS_TOKEN": METRICS_TOKEN},
        headers=lambda m, p: {"Authorization": f"Bearer {METRICS_TOKEN}"},
    ),
    "metrics api token": Op(
        "/metrics",
        settings={"CIVICGRID_METRICS_TOKEN": METRICS_TOKEN},
        transports=("bearer",),
    ),
}

# fmt: off
READS: dict[str, str] = {
    #                     anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    "web home":          "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web public cases":  "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web my cases":      "log  ok   ok   404  404  404  404  404  404  404  404  404  ok",
    "web queue":         "log  404  404  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web report":        "log  ok   ok   ok   ok   404  404  404  404  404  404  ok   ok",
    "web report quest.": "log  ok   ok   ok   ok   404  404  404  404  404  404  ok   ok",
    "web report dups":   "log  ok   ok   ok   ok   404  404  404  404  404  404  ok   ok",
    # the public projection for whoever may not see the full record
    "web case detail":   "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web case photo":    "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web keys":          "log  404  404  404  404  404  404  404  404  404  404  404  ok",
    "web key revoke":    "log  404  404  404  404  404  404  404  404  404  404  404  ok",
    "web map cells":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web basemap":       "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web login":         "ok   home home home home home home home home home home home home",
    # the account's second factor: staff only (residents log in with a password alone)
    "web security":      "log  404  404  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web 2fa code":      "log  404  404  home home home home home home home home home home",
    "web 2fa setup":     "log  404  404  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # logging out and large text are POSTs only
    "web logout":        "405  405  405  405  405  405  405  405  405  405  405  405  405",
    "web large text":    "405  405  405  405  405  405  405  405  405  405  405  405  405",
    # set_language only sends a GET back where it came from; a POST sets the language
    "i18n setlang":      "home home home home home home home home home home home home home",
    "api auth/me":       "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api categories":    "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # lists are scoped (see LISTED); the queue is the role's, empty for residents
    "api cases":         "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api queue":         "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api duplicates":    "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # the full record: the reporter, staff of the area, the unit holding it
    "api case detail":   "401  ok   404  ok   ok   ok   ok   ok   ok   ok   404  404  ok",
    "api timeline":      "401  ok   404  ok   ok   ok   ok   ok   ok   ok   404  404  ok",
    # the original for those who see the full record, the public copy for the others
    "api photo":         "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api public cases":  "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api public case":   "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api public categ.": "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api public cells":  "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # the API's documents are public: the schema says nothing a client may not know
    "api root":          "404  404  404  404  404  404  404  404  404  404  404  404  404",
    "api openapi":       "ok                                                           ok",
    "api docs":          "log  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api docs asset":    "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 discovery":    "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 endpoint":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 v2 discovery": "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 services":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 service":      "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 requests":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 request":      "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 req. notes":   "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 token":        "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 feed":         "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 unknown":      "404  404  404  404  404  404  404  404  404  404  404  404  404",
    "healthz":           "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "readyz":            "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # a scrape from this machine, no token configured; through a proxy it is someone else
    "metrics default":   "404  404  404  404  404  404  404  404  404  404  404  404  404",
    "metrics allowlist": "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "metrics proxied":   "404  404  404  404  404  404  404  404  404  404  404  404  404",
    # with a token configured: its bearer only; a session or a personal API token is not it
    "metrics no token":  "404  404  404  404  404  404  404  404  404  404  404  404  404",
    "metrics its token": "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "metrics api token": "404  404  404  404  404  404  404  404  404  404  404  404  404",
}

# Rows tried by fewer principals, and why. The schema document is the same for everyone and
# takes most of a second to build: anonymous and the administrator stand for the rest.
FEW_PRINCIPALS: dict[str, tuple[str, ...]] = {"api openapi": ("anonymous", "admin")}

# The public projections: whoever asks, the reporter's name, phone and email are never in them.
PUBLIC_ROWS = frozenset(
    {
        "web public cases",
        "api public cases",
        "api public case",
        "o311 requests",
        "o311 request",
        "o311 req. notes",
        "o311 feed",
    }
)

# Whether the case is among the items of GET /api/v1/cases (everything the caller may list).
LISTED: dict[str, str] = {
    #                     anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    "api cases":         "401  yes  no   yes  yes  yes  yes  yes  yes  yes  no   no   yes",
}
# fmt: on


# --------------------------------------------------------------------------- writes


def _json(data: dict[str, Any]) -> Callable[[Matrix, str], Any]:
    return lambda m, p: data


def _with_photos(data: dict[str, Any], *names: str) -> Callable[[Matrix, str], Any]:
    """Multipart data with a fresh PNG upload under each name (an upload is read once)."""
    return lambda m, p: {**data, **{name: [upload()] for name in names}}


@dataclass(frozen=True)
class Step:
    """A workflow step as the API and the case page name it, the state a case must be in
    for it, and the state an allowed step leaves the case in (None: it stays, a request is
    filed or decided)."""

    api: str
    web: str
    state: str
    done: str | None = None


# fmt: off
STEPS = [
    #    API                   case page             the case is            and becomes
    Step("accept",             "accept",             "reported",            Status.ACCEPTED),
    Step("cancel",             "cancel",             "reported",            Status.CANCELLED),
    Step("verify",             "verify",             "accepted",            Status.VERIFIED),
    Step("file",               "file",               "accepted",            Status.FILED),
    Step("dispatch",           "dispatch",           "filed",               Status.DISPATCHED),
    Step("transfer",           "transfer",           "dispatched"),
    Step("return-request",     "return_request",     "dispatched"),
    Step("return-decision",    "return_decide",      "return_requested",    Status.FILED),
    Step("start",              "start",              "dispatched",          Status.PROCESSING),
    Step("process",            "process",            "processing",          Status.PROCESSED),
    Step("extension-request",  "extension_request",  "processing"),
    Step("extension-decision", "extension_decide",   "extension_requested"),
    Step("hold-request",       "hold_request",       "processing"),
    Step("hold-decision",      "hold_decide",        "hold_requested"),
    Step("resume",             "resume",             "on_hold"),
    Step("check-start",        "check_start",        "processed",           Status.CHECKING),
    Step("check",              "check_finish",       "checking",            Status.CLOSED),
    Step("rate",               "rate",               "closed",              Status.EVALUATED),
    Step("self-handle",        "self_handle",        "reported",            Status.CLOSED),
    Step("self-handle-review", "self_handle_review", "self_handled"),
    Step("follow",             "follow",             "dispatched"),
]
# fmt: on
# What each step sends, so that the allowed principals succeed: the API's JSON body (multipart
# for the steps with photos), the case page's form (always multipart).
APPROVE_API = {"approve": True, "note": NOTE}
APPROVE_WEB = {"decision": "approve", "note": NOTE}
API_BODIES: dict[str, Callable[[Matrix, str], Any] | None] = {
    "accept": _json({"note": NOTE}),
    "cancel": _json({"reason": "invalid", "note": NOTE}),
    "verify": _with_photos({"note": NOTE}, "photos"),
    "file": _json({"note": NOTE}),
    "dispatch": _json({"note": NOTE}),
    "transfer": _json({"unit": "lights-co", "reason": "路灯公司负责"}),
    "return-request": _json({"reason": "不归我们管"}),
    "return-decision": _json(APPROVE_API),
    "start": _json({"note": NOTE}),
    "process": _with_photos({"note": NOTE}, "photos"),
    "extension-request": _json({"extra_minutes": 120, "reason": "需要吊车"}),
    "extension-decision": _json(APPROVE_API),
    "hold-request": _json({"reason": "等业主在家"}),
    "hold-decision": _json(APPROVE_API),
    "resume": _json({"note": NOTE}),
    "check-start": None,
    "check": _json({"passed": "true", "note": NOTE}),
    "rate": _json({"satisfaction": "satisfied", "resolved": True}),
    "self-handle": _with_photos({"note": NOTE}, "before", "after"),
    "self-handle-review": _json(APPROVE_API),
    "follow": None,
}
MULTIPART_API_STEPS = frozenset({"verify", "process", "check", "self-handle"})
WEB_BODIES: dict[str, Callable[[Matrix, str], Any]] = {
    "accept": _json({"note": NOTE}),
    "cancel": _json({"reason": "invalid", "note": NOTE}),
    "verify": _with_photos({"note": NOTE}, "photos"),
    "file": _json({"note": NOTE}),
    "dispatch": _json({"note": NOTE}),
    "transfer": _json({"unit": "lights-co", "reason": "路灯公司负责"}),
    "return_request": _json({"reason": "不归我们管"}),
    "return_decide": _json(APPROVE_WEB),
    "start": _json({"note": NOTE}),
    "process": _with_photos({"note": NOTE}, "photos"),
    "extension_request": _json({"extra_hours": 2, "reason": "需要吊车"}),
    "extension_decide": _json(APPROVE_WEB),
    "hold_request": _json({"reason": "等业主在家"}),
    "hold_decide": _json(APPROVE_WEB),
    "resume": _json({"note": NOTE}),
    "check_start": _json({}),
    "check_finish": _json({"result": "pass", "note": NOTE}),
    "rate": _json({"satisfaction": "satisfied", "resolved": "on", "contacted": "on"}),
    "self_handle": _with_photos({"note": NOTE}, "before", "after"),
    "self_handle_review": _json(APPROVE_WEB),
    "follow": _json({}),
}

WRITE_ROUTES: dict[str, Op] = {}
for _step in STEPS:
    WRITE_ROUTES[f"api {_step.api}"] = Op(
        f"/api/v1/cases/{{case}}/{_step.api}",
        "POST",
        state=_step.state,
        body=API_BODIES[_step.api],
        encoding="multipart" if _step.api in MULTIPART_API_STEPS else "json",
        transports=("bearer",),
        done=_step.done,
    )
    WRITE_ROUTES[f"web {_step.web}"] = Op(
        f"/cases/{{case}}/{_step.web}/",
        "POST",
        state=_step.state,
        body=WEB_BODIES[_step.web],
        encoding="multipart",
        done=_step.done,
    )
_CASE_FIELDS = {"category": "E0101", "description": "楼下有一堆垃圾"}
WRITE_ROUTES.update(
    {
        "api submit": Op(
            "/api/v1/cases",
            "POST",
            body=lambda m, p: {
                **_CASE_FIELDS,
                "lat": m.world.inside_lat,
                "lng": m.world.inside_lng,
            },
            transports=("bearer",),
        ),
        # each principal sends its own username and password; nobody sends a wrong one
        "api token create": Op(
            "/api/v1/auth/token",
            "POST",
            body=lambda m, p: {
                "username": p if p != "anonymous" else "resident",
                "password": PASSWORD if p != "anonymous" else "wrong-password",
                "name": "matrix",
            },
            transports=("bearer",),
        ),
        "api token revoke": Op("/api/v1/auth/token", "DELETE", transports=("bearer",)),
        "web report": Op(
            "/report/",
            "POST",
            body=lambda m, p: {
                **_CASE_FIELDS,
                "lat": m.world.inside_lat,
                "lng": m.world.inside_lng,
                "urgency": "normal",
            },
            encoding="multipart",
        ),
        "web key issue": Op(
            "/keys/",
            "POST",
            body=_json({"organization": "app", "name": "matrix key", "rate_per_minute": 60}),
            encoding="multipart",
        ),
        "web key revoke": Op("/keys/{key}/revoke/", "POST", body=_json({})),
        "web large text": Op(
            "/prefs/large-text/",
            "POST",
            body=_json({"next": "/"}),
            writes="n n n n n n n n n n n n n",  # a cookie, nothing stored
            cookie=LARGE_TEXT_COOKIE,
        ),
        # anonymous logs in as the resident; the logged-in are sent home (nothing done)
        "web login": Op(
            "/accounts/login/",
            "POST",
            body=_json({"username": "resident", "password": PASSWORD}),
            writes="y n n n n n n n n n n n n",
        ),
        "web logout": Op("/accounts/logout/", "POST", writes="n y y y y y y y y y y y y"),
        "web 2fa code post": Op("/accounts/two-factor/", "POST", body=_json({"code": "000000"})),
        # a wrong code confirms nothing, but the page it shows again holds a new, unconfirmed
        # authenticator to scan (a device row)
        "web 2fa setup post": Op(
            "/accounts/two-factor/setup/",
            "POST",
            body=_json({"code": "000000"}),
            writes="n n n y y y y y y y y y y",
        ),
        "web 2fa remove": Op("/accounts/security/remove/", "POST", body=_json({"code": "000000"})),
        "i18n setlang": Op(
            "/i18n/setlang/",
            "POST",
            body=_json({"language": "zh-hans", "next": "/"}),
            writes="n n n n n n n n n n n n n",  # a cookie, nothing stored
            cookie=settings.LANGUAGE_COOKIE_NAME,
        ),
        # Open311: the api_key is the only credential; sessions and tokens are ignored
        "o311 post": Op(
            "/open311/v2/requests.json",
            "POST",
            body=lambda m, p: {**m.open311_fields(), "api_key": m.values["api_key"]},
            encoding="form",
        ),
        "o311 post key query": Op(
            "/open311/v2/requests.xml?api_key={api_key}",
            "POST",
            body=lambda m, p: m.open311_fields(),
            encoding="form",
        ),
        "o311 post no key": Op(
            "/open311/v2/requests.json",
            "POST",
            body=lambda m, p: m.open311_fields(),
            encoding="form",
        ),
        "o311 post old key": Op(
            "/open311/v2/requests.json",
            "POST",
            body=lambda m, p: {**m.open311_fields(), "api_key": m.values["revoked_key"]},
            encoding="form",
        ),
        "o311 post unknown": Op(
            "/open311/v2/nothing.json", "POST", body=_json({}), encoding="form"
        ),
    }
)

# fmt: off
WRITES: dict[str, str] = {
    #                       anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    # Every authenticated caller may report through the API (staff as hotline or patrol
    # source); the report page is for residents, grid workers and operators only.
    "api submit":          "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web report":          "log  case case case case 404  404  404  404  404  404  case case",
    # intake: the reporter passes access_case for ACT (they may check and rate), so the
    # service refuses them by role: 403, not 404; the units see a case once it is theirs
    "api accept":          "401  403  404  403  ok   403  403  403  403  404  404  404  ok",
    "web accept":          "log  403  404  403  case 403  403  403  403  404  404  404  case",
    "api cancel":          "401  403  404  403  ok   ok   403  403  403  404  404  404  ok",
    "web cancel":          "log  403  404  403  case case 403  403  403  404  404  404  case",
    "api verify":          "401  403  404  ok   403  403  403  403  403  404  404  404  ok",
    "web verify":          "log  403  404  case 403  403  403  403  403  404  404  404  case",
    "api file":            "401  403  404  403  403  ok   403  403  403  404  404  404  ok",
    "web file":            "log  403  404  403  403  case 403  403  403  404  404  404  case",
    "api dispatch":        "401  403  404  403  403  403  ok   ok   403  404  404  404  ok",
    "web dispatch":        "log  403  404  403  403  403  case case 403  404  404  404  case",
    "api transfer":        "401  403  404  403  403  403  ok   ok   403  403  404  404  ok",
    "web transfer":        "log  403  404  403  403  403  case case 403  403  404  404  case",
    "api return-request":  "401  403  404  403  403  403  403  403  403  ok   404  404  ok",
    "web return_request":  "log  403  404  403  403  403  403  403  403  case 404  404  case",
    "api return-decision": "401  403  404  403  403  403  ok   ok   403  403  404  404  ok",
    "web return_decide":   "log  403  404  403  403  403  case case 403  403  404  404  case",
    # disposal: the unit holding the case; leaders decide on its requests
    "api start":           "401  403  404  403  403  403  403  403  403  ok   404  404  ok",
    "web start":           "log  403  404  403  403  403  403  403  403  case 404  404  case",
    "api process":         "401  403  404  403  403  403  403  403  403  ok   404  404  ok",
    "web process":         "log  403  404  403  403  403  403  403  403  case 404  404  case",
    "api extension-request": "401 403 404 403 403  403  403  403  403  ok   404  404  ok",
    "web extension_request": "log 403 404 403 403  403  403  403  403  case 404  404  case",
    "api extension-decision": "401 403 404 403 403 ok   403  ok   403  403  404  404  ok",
    "web extension_decide": "log 403  404  403  403  case 403  case 403  403  404  404  case",
    "api hold-request":    "401  403  404  403  403  403  403  403  403  ok   404  404  ok",
    "web hold_request":    "log  403  404  403  403  403  403  403  403  case 404  404  case",
    "api hold-decision":   "401  403  404  403  403  ok   403  ok   403  403  404  404  ok",
    "web hold_decide":     "log  403  404  403  403  case 403  case 403  403  404  404  case",
    "api resume":          "401  403  404  403  403  ok   403  ok   403  ok   404  404  ok",
    "web resume":          "log  403  404  403  403  case 403  case 403  case 404  404  case",
    # check: the grid worker or the reporter; rate: the reporter, or an operator's call-back
    "api check-start":     "401  ok   404  ok   403  403  403  403  403  403  404  404  ok",
    "web check_start":     "log  case 404  case 403  403  403  403  403  403  404  404  case",
    "api check":           "401  ok   404  ok   403  403  403  403  403  403  404  404  ok",
    "web check_finish":    "log  case 404  case 403  403  403  403  403  403  404  404  case",
    "api rate":            "401  ok   404  403  ok   403  403  403  403  403  404  404  ok",
    "web rate":            "log  case 404  403  case 403  403  403  403  403  404  404  case",
    "api self-handle":     "401  403  404  ok   403  403  403  403  403  404  404  404  ok",
    "web self_handle":     "log  403  404  case 403  403  403  403  403  404  404  404  case",
    "api self-handle-review": "401 403 404 403 403 ok   403  403  403  404  404  404  ok",
    "web self_handle_review": "log 403 404 403 403 case 403  403  403  404  404  404  case",
    # "me too" on an open case: anyone logged in who is not its reporter
    "api follow":          "401  409  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "web follow":          "log  409  case case case case case case case case case case case",
    # personal API tokens: one's own password; revoking the token the request carries
    "api token create":    "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "api token revoke":    "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # Open311 keys: administrators only
    "web key issue":       "log  404  404  404  404  404  404  404  404  404  404  404  ok",
    "web key revoke":      "log  404  404  404  404  404  404  404  404  404  404  404  keys",
    "web large text":      "home home home home home home home home home home home home home",
    "web login":           "home home home home home home home home home home home home home",
    "web logout":          "home home home home home home home home home home home home home",
    # a session that owes no code goes on; a wrong code enrols nothing; nothing to remove
    "web 2fa code post":   "log  404  404  home home home home home home home home home home",
    "web 2fa setup post":  "log  404  404  400  400  400  400  400  400  400  400  400  400",
    "web 2fa remove":      "log  404  404  409  409  409  409  409  409  409  409  409  409",
    "i18n setlang":        "home home home home home home home home home home home home home",
    "o311 post":           "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 post key query": "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 post no key":    "403  403  403  403  403  403  403  403  403  403  403  403  403",
    "o311 post old key":   "403  403  403  403  403  403  403  403  403  403  403  403  403",
    "o311 post unknown":   "404  404  404  404  404  404  404  404  404  404  404  404  404",
}
# fmt: on

# Known bugs, each row marked xfail(strict=True) until fixed.
WRITE_BUGS: dict[str, str] = {}

# --------------------------------------------------------------------------- the admin site

# The admin site lets in Django's staff (is_staff) and nobody else, whatever their role: only
# the administrator has is_staff here. So its own pages (index, login, logout, password...)
# are tried by every principal, and each model's pages by three: anonymous, a logged-in
# user without is_staff (the resident) and the administrator; everyone but the administrator
# is sent to the admin's login page.
ADMIN_MODEL_PRINCIPALS = ("anonymous", "resident", "admin")
# What the administrator gets on each page of each registered model. Kinds: the list, add,
# history, delete, change, the bare object URL (a redirect to change); then POSTs of an empty
# form to the list (no action chosen), add, change and delete (not confirmed): none may save
# or delete anything. 403: that model admin refuses it (records come from services, imports
# or tasks; history is kept); aidx: no such object (the model has none in the world).
ADMIN_KINDS = ("list", "add", "history", "delete", "change", "object")
ADMIN_POSTS = ("list", "add", "change", "delete")
# fmt: off
ADMIN_MODELS: dict[str, str] = {
    #                                  list add  hist del  chg  obj | list add  chg  del
    "auth.group":                     "ok   ok   ok   ok   ok   achg | ok   ok   ok   ok",
    "django_tasks_database.dbtaskresult": "ok 403 aidx 403 aidx achg | ok   403  aidx 403",
    "axes.accessattempt":             "ok   403  aidx aidx aidx achg | ok   403  aidx aidx",
    "axes.accesslog":                 "ok   403  ok   ok   ok   achg | ok   403  alst ok",
    "axes.accessfailurelog":          "ok   403  aidx aidx aidx achg | ok   403  aidx aidx",
    "core.auditrecord":               "ok   403  ok   403  ok   achg | ok   403  403  403",
    "core.auditheadpublication":      "ok   403  aidx 403  aidx achg | ok   403  aidx 403",
    "core.calendarday":               "ok   ok   aidx aidx aidx achg | ok   ok   aidx aidx",
    "accounts.organization":          "ok   ok   ok   ok   ok   achg | ok   ok   ok   ok",
    "accounts.user":                  "ok   ok   ok   ok   ok   achg | ok   ok   ok   ok",
    "accounts.clientkey":             "ok   ok   ok   403  ok   achg | ok   ok   403  403",
    "geo.area":                       "ok   403  ok   403  ok   achg | ok   403  ok   403",
    "geo.gridcell":                   "ok   403  ok   403  ok   achg | ok   403  ok   403",
    "geo.gridmember":                 "ok   ok   ok   403  ok   achg | ok   ok   alst 403",
    "cases.category":                 "ok   ok   ok   ok   ok   achg | ok   ok   ok   ok",
    "cases.routingrule":              "ok   ok   ok   ok   ok   achg | ok   ok   ok   ok",
    "cases.case":                     "ok   403  ok   403  ok   achg | ok   403  403  403",
}
# The site's own pages, for every principal: (method, URL, "everyone else × the admin").
ADMIN_SITE: dict[str, tuple[str, str, str]] = {
    "admin index":         ("GET",  "/admin/",                          "alog × ok"),
    "admin app":           ("GET",  "/admin/geo/",                      "alog × ok"),
    "admin login":         ("GET",  "/admin/login/",                    "ok × aidx"),
    "admin login post":    ("POST", "/admin/login/",                    "ok × ok"),
    "admin logout":        ("POST", "/admin/logout/",                   "aidx × home"),
    "admin password":      ("GET",  "/admin/password_change/",          "alog × ok"),
    "admin password post": ("POST", "/admin/password_change/",          "alog × ok"),
    "admin password done": ("GET",  "/admin/password_change/done/",     "alog × ok"),
    "admin autocomplete":  ("GET",  "/admin/autocomplete/",             "alog × 403"),
    "admin jsi18n":        ("GET",  "/admin/jsi18n/",                   "alog × ok"),
    "admin view on site":  ("GET",  "/admin/r/{case_ct}/{case_pk}/",    "alog × 404"),
    "admin user password": ("GET",  "/admin/accounts/user/{user}/password/", "alog × ok"),
    "admin user pw post":  ("POST", "/admin/accounts/user/{user}/password/", "alog × ok"),
    "admin elsewhere":     ("GET",  "/admin/no-such-page/",             "alog × 404"),
}
# fmt: on
ADMIN_MODEL_ROWS: set[str] = set()


def _admin_rows() -> tuple[dict[str, Op], dict[str, str], dict[str, str]]:
    """The admin's rows: (reads, writes, their cells)."""
    reads: dict[str, Op] = {}
    writes: dict[str, Op] = {}
    cells: dict[str, str] = {}
    urls_of: dict[str, dict[str, str]] = {}

    def row(name: str, method: str, url: str, codes: list[str]) -> None:
        cells[name] = " ".join(codes)
        if method == "GET":
            reads[name] = Op(url)
        else:  # an empty form: nothing is saved (a logout deletes the session, see below)
            writes[name] = Op(url, "POST", body=_json({}), writes=" ".join("n" * len(codes)))

    for model, answers in ADMIN_MODELS.items():
        app, name = model.split(".")
        base = f"/admin/{app}/{name}/"
        gets, posts = (part.split() for part in answers.split("|"))
        pk = f"{{{app}_{name}}}"  # the placeholder of an object of the model
        urls = urls_of[model] = {
            "list": base,
            "add": f"{base}add/",
            "history": f"{base}{pk}/history/",
            "delete": f"{base}{pk}/delete/",
            "change": f"{base}{pk}/change/",
            "object": f"{base}{pk}/",
        }
        for kind, code in zip(ADMIN_KINDS, gets, strict=True):
            row(f"admin {model} {kind}", "GET", urls[kind], ["alog", "alog", code])
            ADMIN_MODEL_ROWS.add(f"admin {model} {kind}")
        for kind, code in zip(ADMIN_POSTS, posts, strict=True):
            row(f"admin {model} {kind} post", "POST", urls[kind], ["alog", "alog", code])
            ADMIN_MODEL_ROWS.add(f"admin {model} {kind} post")
    for name, (method, url, answer) in ADMIN_SITE.items():
        others, adm = answer.split(" × ")
        row(name, method, url, [others] * (len(PRINCIPALS) - 1) + [adm])
    # An open membership's only field is its end date: an empty form keeps it open, and the
    # admin records "no fields changed" (a log entry, the membership untouched).
    writes["admin geo.gridmember change post"] = Op(
        urls_of["geo.gridmember"]["change"], "POST", body=_json({}), writes="n n y"
    )
    # django-axes' admin lets the administrator save (and delete) a login record: an empty
    # form "changes" nothing but writes a log entry. See the report on login history.
    writes["admin axes.accesslog change post"] = Op(
        urls_of["axes.accesslog"]["change"], "POST", body=_json({}), writes="n n y"
    )
    # logging out of the admin ends the administrator's session (and nobody else's)
    writes["admin logout"] = Op(
        "/admin/logout/", "POST", body=_json({}), writes="n n n n n n n n n n n n y"
    )
    return reads, writes, cells


ADMIN_READS, ADMIN_WRITES, ADMIN_CELLS = _admin_rows()
ROUTES.update(ADMIN_READS)
WRITE_ROUTES.update(ADMIN_WRITES)
READS.update({name: ADMIN_CELLS[name] for name in ADMIN_READS})
WRITES.update({name: ADMIN_CELLS[name] for name in ADMIN_WRITES})

# --------------------------------------------------------------------------- personal data

# The reporter's name, phone and email on the case's full record. clear: as reported;
# mask: masked (138****8000); none: not shown at all (or no access); hide: mask or none.
# fmt: off
PERSONAL: dict[str, str] = {
    #                     anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    "api case detail":   "none clear none mask clear clear clear clear mask mask none none clear",
    # the web page shows no email; the reporter reads "You"
    "web case detail":   "none none none hide clear clear clear clear hide hide none none clear",
}
# fmt: on

# Known bugs, each row marked xfail(strict=True) until fixed. (The web case page used to show
# the reporter's name and phone to every staff role with the full record; fixed.)
PERSONAL_BUGS: dict[str, str] = {}


def cells(table: dict[str, str], row: str) -> dict[str, str]:
    principals = ADMIN_MODEL_PRINCIPALS if row in ADMIN_MODEL_ROWS else PRINCIPALS
    principals = FEW_PRINCIPALS.get(row, principals)
    codes = table[row].split()
    assert len(codes) == len(principals), f"row {row!r} has {len(codes)} cells"
    return dict(zip(principals, codes, strict=True))


def rows(table: dict[str, str], bugs: dict[str, str] | None = None) -> list[Any]:
    """The table's rows as test parameters, the known bugs marked xfail(strict=True)."""
    bugs = bugs or {}
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=bugs[name]))
        if name in bugs
        else name
        for name in table
    ]


# --------------------------------------------------------------------------- the world


_CLIENTS: dict[bool, Client] = {}


@dataclass
class Matrix:
    world: World
    case: Case
    cases: dict[str, Case]
    values: dict[str, Any]
    tokens: dict[str, str]
    sessions: dict[str, str]

    def url(self, op: Op | str, case: Case | None = None) -> str:
        template = op if isinstance(op, str) else op.url
        if case is None and isinstance(op, Op) and op.state is not None:
            case = self.cases[op.state]
        number = (case or self.case).number
        return template.format_map({**self.values, "case": number})

    def client(self, principal: str, transport: str = "session", *, csrf: bool = False) -> Client:
        """A client of the principal: its session cookie, or its API token in the header.

        One client (per CSRF setting) serves every request, its cookies and headers reset
        each time: a new test client builds the middleware stack on its first request, and
        WhiteNoise's scan of the static files alone would cost more than the requests."""
        client = _CLIENTS.get(csrf)
        if client is None:
            client = _CLIENTS[csrf] = Client(enforce_csrf_checks=csrf)
        client.raise_request_exception = False  # a 500 is an outcome like any other
        client.cookies = SimpleCookie()
        client.defaults = {}
        if transport == "bearer" and principal != "anonymous":
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {self.tokens[principal]}"
        if transport == "session" and principal != "anonymous":
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[principal]
        return client

    def session(self, principal: str) -> Client:
        return self.client(principal, "session")

    def bearer(self, principal: str) -> Client:
        return self.client(principal, "bearer")

    def open311_fields(self) -> dict[str, str]:
        return {
            "service_code": "E0101",
            "lat": str(self.world.inside_lat),
            "long": str(self.world.inside_lng),
            "description": "门口有垃圾",
        }


def dispatched(world: World, **overrides: Any) -> Case:
    return case_in_state(world, "dispatched", **overrides)


def _admin_object_ids(matrix_case: Case, world: World) -> dict[str, Any]:
    """An object of each admin model to open (0 where the world has none: the admin then
    sends the administrator back to its index)."""
    Group.objects.create(name="matrix")
    grid_member_add(
        actor=None,
        cell=GridCell.objects.order_by("code").first(),
        user=world.users["grid_worker"],
        role=GridRole.FULL_TIME,
        valid_from=matrix_case.reported_at.date(),
    )
    ids = {}
    for model in admin.site._registry:
        pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        ids[f"{model._meta.app_label}_{model._meta.model_name}"] = pk if pk is not None else 0
    ids["cases_case"] = matrix_case.pk
    return ids


def build_matrix() -> Matrix:
    world = build_world(second_community=True)
    case = dispatched(
        world,
        photos=[photo()],
        reporter_name=REPORTER_NAME,
        reporter_phone=REPORTER_PHONE,
        reporter_email=REPORTER_EMAIL,
    )
    assert case.unit == world.units["clean"]
    cases = cases_in_every_state(world)
    admin_user = world.users["admin"]
    client_org = organization_create_client(actor=admin_user, code="app", name="应用")
    key, _raw = client_key_issue(actor=admin_user, organization=client_org, name="app key")
    _live, api_key = client_key_issue(
        actor=admin_user, organization=client_org, name="matrix", rate_per_minute=10_000
    )
    old, revoked_key = client_key_issue(actor=admin_user, organization=client_org, name="old")
    old.revoked_at = case.reported_at
    old.save(update_fields=["revoked_at"])
    report_photo = CasePhoto.objects.get(case=case)
    tokens = {
        name: api_token_issue(actor=None, user=user, name="matrix")[1]
        for name, user in world.users.items()
    }
    sessions = {}
    for name, user in world.users.items():
        client = Client()
        client.force_login(user)
        sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    values = {
        "photo": report_photo.pk,
        "key": key.pk,
        "api_key": api_key,
        "revoked_key": revoked_key,
        "lat": world.inside_lat,
        "lng": world.inside_lng,
        "token": request_token(case),
        "user": world.users["resident"].pk,
        "case_ct": _content_type_id(Case),
        "case_pk": case.pk,
        **_admin_object_ids(case, world),
    }
    return Matrix(
        world=world, case=case, cases=cases, values=values, tokens=tokens, sessions=sessions
    )


def _content_type_id(model: type) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(model).pk


# Thousands of requests, most of them refused on purpose: their access lines and "Not Found"
# warnings would only bury a failure's report.
QUIET_LOGGERS = ("civicgrid.request", "django.request", "django.security.csrf", "axes")


@pytest.fixture(scope="module")
def matrix(django_db_setup: None, django_db_blocker: Any) -> Iterator[Matrix]:
    """The world, built once for the module in a transaction that is rolled back at its end;
    each test runs in a savepoint inside it (pytest-django), so no test sees another's
    writes and the next module finds the database as it was."""
    quiet = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            yield build_matrix()
            transaction.set_rollback(True)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Throttles (token exchange, Open311 keys) count in the cache: each row starts afresh."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# --------------------------------------------------------------------------- requests


def send(matrix: Matrix, op: Op, principal: str, transport: str, *, csrf: bool = False) -> Any:
    client = matrix.client(principal, transport, csrf=csrf)
    url = matrix.url(op)
    headers = op.headers(matrix, principal) if op.headers else {}
    data = op.body(matrix, principal) if op.body else None
    with override_settings(**op.settings):
        if op.method == "GET":
            return client.get(url, headers=headers)
        if op.method == "DELETE":
            return client.delete(url, headers=headers)
        if data is None:
            return client.post(url, headers=headers)
        encoding = op.encoding or ("json" if op.url.startswith("/api/") else "multipart")
        if encoding == "json":
            return client.post(
                url, data=json.dumps(data), content_type="application/json", headers=headers
            )
        if encoding == "form":
            return client.post(
                url,
                data=urlencode(data, doseq=True),
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            )
        return client.post(url, data=data, headers=headers)


def outcome(response: Any) -> str:
    """The code of a response, as in the tables."""
    status = response.status_code
    if 200 <= status < 300:
        return "ok"
    if status in (301, 302):
        location = urlsplit(response["Location"]).path
        if location.startswith("/accounts/login/"):
            return "log"
        if location.startswith("/admin/login/"):
            return "alog"
        codes = {"/": "home", "/keys/": "keys", "/admin/": "aidx"}
        if location in codes:
            return codes[location]
        parts = location.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "cases" and parts[1].isdigit():
            return "case"
        if location.startswith("/admin/") and location.endswith("/change/"):
            return "achg"
        if location.startswith("/admin/") and len(parts) == 3:
            return "alst"  # a model's list
        return f"302→{location}"
    return str(status)


def leaks_personal_data(response: Any) -> bool:
    body = response.content.decode(errors="replace")
    escaped_name = json.dumps(REPORTER_NAME)[1:-1]  # as a JSON renderer with ensure_ascii
    values = (REPORTER_NAME, escaped_name, REPORTER_PHONE, REPORTER_EMAIL)
    return any(value in body for value in values)


def report(mismatches: list[str], got: dict[str, str] | None = None) -> str:
    text = "mismatching cells:\n  " + "\n  ".join(mismatches)
    if got:
        text += "\nthe row as it came out:\n  " + " ".join(f"{code:<4}" for code in got.values())
    return text


_FOOTPRINT_TABLES = (
    "cases_case",
    "cases_trace",
    "cases_caserequest",
    "cases_casephoto",
    "cases_follower",
    "cases_rating",
    "cases_category",
    "cases_routingrule",
    "core_auditrecord",
    "core_calendarday",
    "accounts_user",
    "accounts_organization",
    "accounts_apitoken",
    "accounts_clientkey",
    "accounts_notification",
    "geo_area",
    "geo_gridcell",
    "geo_gridmember",
    "auth_group",
    "django_session",
    "django_admin_log",
    "otp_totp_totpdevice",
    "otp_static_staticdevice",
)


def footprint() -> tuple[Any, ...]:
    """What a refused request must leave as it was: the row counts of the tables that
    requests write, every case's state, every request's, every token's and key's."""
    counts = ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in _FOOTPRINT_TABLES)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")  # table names are constants
        row = cursor.fetchone()
    return (
        row,
        tuple(
            Case.objects.order_by("pk").values_list(
                "pk", "status", "unit_id", "updated_at", "follower_count", "is_on_hold"
            )
        ),
        tuple(
            ApiToken.objects.filter(revoked_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        tuple(
            ClientKey.objects.filter(revoked_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        tuple(CaseRequest.objects.order_by("pk").values_list("pk", "state")),
    )


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize("row", rows(READS))
def test_read_matrix(matrix: Matrix, row: str):
    # given
    op = ROUTES[row]
    mismatches = []
    got: dict[str, str] = {}

    # when
    for principal, expected in cells(READS, row).items():
        for transport in op.transports:
            response = send(matrix, op, principal, transport)
            got[principal] = outcome(response)
            # then
            if got[principal] != expected:
                mismatches.append(
                    f"{row} × {principal} ({transport}): want {expected}, got {got[principal]}"
                )
            if row in PUBLIC_ROWS and leaks_personal_data(response):
                mismatches.append(f"{row} × {principal} ({transport}): personal data in it")

    # then
    assert not mismatches, report(mismatches, got)


def test_case_list_shows_the_case_to_those_in_scope_only(matrix: Matrix):
    # given
    mismatches = []

    # when
    for principal, expected in cells(LISTED, "api cases").items():
        response = matrix.bearer(principal).get("/api/v1/cases?page_size=100")
        if response.status_code == 200:
            numbers = {item["number"] for item in response.json()["items"]}
            got = "yes" if matrix.case.number in numbers else "no"
        else:
            got = str(response.status_code)
        if got != expected:
            mismatches.append(f"api cases × {principal}: want {expected}, got {got}")

    # then
    assert not mismatches, report(mismatches)


# --------------------------------------------------------------------------- writes

DONE = frozenset({"ok", "case", "keys"})  # outcomes of a write that was carried out


@pytest.mark.parametrize("row", rows(WRITES, WRITE_BUGS))
def test_write_matrix(matrix: Matrix, row: str):
    """Each principal in turn, in a savepoint rolled back after it: the allowed ones change
    the database (and move the case as the row says), the others change nothing."""
    # given
    op = WRITE_ROUTES[row]
    expectations = cells(WRITES, row)
    writes = dict(zip(expectations, op.writes.split(), strict=True)) if op.writes else {}
    mismatches = []
    got: dict[str, str] = {}

    before = footprint()  # each principal's request is rolled back: the same for all
    case = matrix.cases.get(op.state) if op.state else None
    for principal, expected in expectations.items():
        with transaction.atomic():
            # when
            response = send(matrix, op, principal, op.transports[0])

            # then
            got[principal] = outcome(response)
            changed = footprint() != before
            must_write = writes.get(principal, "y" if expected in DONE else "n") == "y"
            status = Case.objects.get(pk=case.pk).status if case is not None else None
            transaction.set_rollback(True)
        if got[principal] != expected:
            mismatches.append(f"{row} × {principal}: want {expected}, got {got[principal]}")
        elif must_write and not changed:
            mismatches.append(f"{row} × {principal}: allowed ({expected}), but nothing written")
        elif not must_write and changed:
            mismatches.append(f"{row} × {principal}: {expected}, but something was written")
        elif must_write and op.done and status != op.done:
            mismatches.append(f"{row} × {principal}: allowed, but the case is {status}")
        elif op.cookie and op.cookie not in response.cookies:
            mismatches.append(f"{row} × {principal}: {expected}, but no {op.cookie} cookie")

    assert not mismatches, report(mismatches, got)


# Found by this matrix and fixed: POST /cases/{n}/follow is open to every logged-in user, and
# access_case gave any follower the full record, so a contractor not holding the case or an
# operator of another community could follow it and then read it. Following no longer widens a
# staff member's access.
def test_following_a_case_does_not_widen_a_staff_members_access(matrix: Matrix):
    # given: staff outside the case's scope, who get 404 for its full record
    detail = matrix.url("/api/v1/cases/{case}")
    outsiders = ("lights_handler", "other_operator")
    mismatches = []

    for principal in outsiders:
        with transaction.atomic():
            before = matrix.bearer(principal).get(detail).status_code
            # when
            followed = matrix.bearer(principal).post(matrix.url("/api/v1/cases/{case}/follow"))
            after = matrix.bearer(principal).get(detail).status_code
            transaction.set_rollback(True)

        # then
        assert (before, followed.status_code) == (404, 200), principal
        if after != 404:
            mismatches.append(f"api case detail × {principal} after following: got {after}")

    assert not mismatches, report(mismatches)


# --------------------------------------------------------------------------- CSRF


# Who may take each write, for the CSRF tests: the first allowed principal of the row.
def _allowed(row: str) -> str | None:
    for principal, code in cells(WRITES, row).items():
        if code in DONE and principal != "anonymous":
            return principal
    return None


API_SESSION_WRITES = [
    row
    for row, op in WRITE_ROUTES.items()
    if op.url.startswith("/api/") and row != "api token create"  # that one takes no login
]
WEB_WRITES = [
    row for row, op in WRITE_ROUTES.items() if not op.url.startswith(("/api/", "/open311/"))
]


def test_api_writes_with_a_session_need_the_csrf_token(matrix: Matrix):
    """A browser's session cookie goes with every request, so a write authenticated by it
    alone (no CSRF token) is refused, and nothing is written."""
    mismatches = []
    for row in API_SESSION_WRITES:
        op = WRITE_ROUTES[row]
        principal = _allowed(row) or "admin"
        with transaction.atomic():
            before = footprint()
            response = send(matrix, op, principal, "session", csrf=True)
            changed = footprint() != before
            transaction.set_rollback(True)
        body = response.json() if response.status_code == 403 else {}
        if response.status_code != 403 or body["error"]["code"] != "csrf_failed":
            mismatches.append(f"{row} × {principal}: want 403 csrf_failed, got {outcome(response)}")
        if changed:
            mismatches.append(f"{row} × {principal}: refused, but something was written")
    assert not mismatches, report(mismatches)


def test_web_forms_need_the_csrf_token(matrix: Matrix):
    mismatches = []
    for row in WEB_WRITES:
        op = WRITE_ROUTES[row]
        principal = _allowed(row) or "admin"
        with transaction.atomic():
            before = footprint()
            response = send(matrix, op, principal, "session", csrf=True)
            changed = footprint() != before
            transaction.set_rollback(True)
        if response.status_code != 403:
            mismatches.append(f"{row} × {principal}: want 403, got {outcome(response)}")
        if changed:
            mismatches.append(f"{row} × {principal}: refused, but something was written")
    assert not mismatches, report(mismatches)


# --------------------------------------------------------------------------- completeness


def _ninja_routes() -> dict[str, set[str]]:
    """Each route of the JSON API (as the resolver spells it) with its operations' methods."""
    routes: dict[str, set[str]] = {}
    prefix = "api/v1/"
    for router_prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            joined = "/".join(part.strip("/") for part in (router_prefix, path) if part.strip("/"))
            route = prefix + joined.replace("{", "<").replace("}", ">")
            for operation in path_view.operations:
                routes.setdefault(route, set()).update(m.upper() for m in operation.methods)
    return routes


def _resolver_routes() -> list[tuple[str, str | None]]:
    """Every URL pattern of the site: (route, url name)."""

    def join(prefix: str, part: str) -> str:  # as ResolverMatch.route joins them
        return prefix + part.removeprefix("^") if prefix else part

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, str | None]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, join(prefix, str(pattern.pattern)))
            else:
                assert isinstance(pattern, URLPattern)
                yield join(prefix, str(pattern.pattern)), pattern.name

    return list(walk(get_resolver().url_patterns, ""))


def _key(method: str, url: str, ninja: dict[str, set[str]]) -> tuple[str, ...]:
    match = resolve(urlsplit(url).path)
    if match.route in ninja:
        return (method, match.route)
    if match.url_name == "case_step":
        return ("POST", match.route, match.kwargs["step"])
    return ("*", match.route)


def test_every_url_and_operation_has_a_row(matrix: Matrix):
    """Walk the resolver and the JSON API: every URL pattern (every method of an API route,
    every workflow step of the case page) is requested by some row. A new URL fails here
    until the tables say who may use it."""
    # given
    ninja = _ninja_routes()
    expected: set[tuple[str, ...]] = set()
    for route, name in _resolver_routes():
        if route in ninja:
            expected.update((method, route) for method in ninja[route])
        elif name == "case_step":
            expected.update(("POST", route, step) for step in STEP_FORMS)
        else:
            expected.add(("*", route))
    assert set(ninja) <= {route for route, _name in _resolver_routes()}

    # when
    covered = {_key(op.method, matrix.url(op), ninja) for op in ROUTES.values()}
    covered |= {_key(op.method, matrix.url(op), ninja) for op in WRITE_ROUTES.values()}

    # then
    assert sorted(expected - covered) == [], f"URLs without a row: {sorted(expected - covered)}"
    assert sorted(covered - expected) == [], "rows that name no URL of the site"
    assert set(ADMIN_MODELS) == {m._meta.label_lower for m in admin.site._registry}


def test_a_url_that_takes_posts_has_a_post_row(matrix: Matrix):
    """Outside the admin (whose rows are per model) and the JSON API (whose operations are
    listed by method; its schema and docs pages answer any method with the same document), a
    page with only a GET row answers a POST with 405; one that takes it needs a row in
    WRITES."""
    ninja = _ninja_routes()
    posted = {_key("*", matrix.url(op), ninja) for op in WRITE_ROUTES.values()}
    takes_posts = []
    for row, op in ROUTES.items():
        key = _key("*", matrix.url(op), ninja)
        if key in posted or key[1].startswith(("admin/", "api/")):
            continue
        with transaction.atomic():
            response = matrix.session("admin").post(matrix.url(op))
            transaction.set_rollback(True)
        if response.status_code != 405:
            takes_posts.append(f"{row}: {op.url} answers POST with {outcome(response)}")
    assert takes_posts == [], "\n".join(takes_posts)


# --------------------------------------------------------------------------- personal data


def personal_in_json(response: Any) -> str:
    if response.status_code != 200:
        return "none"
    reporter = response.json()["reporter"]
    if reporter is None:
        return "none"
    shown = (reporter["name"], reporter["phone"], reporter["email"])
    if shown == (REPORTER_NAME, REPORTER_PHONE, REPORTER_EMAIL) and not reporter["is_masked"]:
        return "clear"
    masked = (mask_name(REPORTER_NAME), mask_phone(REPORTER_PHONE), mask_email(REPORTER_EMAIL))
    if shown == masked and reporter["is_masked"]:
        return "mask"
    return f"odd {reporter}"


def personal_in_page(response: Any) -> str:
    if response.status_code != 200:
        return "none"
    text = response.content.decode()
    if REPORTER_NAME in text or REPORTER_PHONE in text or REPORTER_EMAIL in text:
        return "clear"
    if mask_phone(REPORTER_PHONE) in text or mask_name(REPORTER_NAME) in text:
        return "mask"
    return "none"


@pytest.mark.parametrize("row", rows(PERSONAL, PERSONAL_BUGS))
def test_personal_fields_matrix(matrix: Matrix, row: str):
    # given
    mismatches = []

    for principal, expected in cells(PERSONAL, row).items():
        # when
        if row.startswith("api "):
            got = personal_in_json(matrix.bearer(principal).get(matrix.url(ROUTES[row])))
        else:
            got = personal_in_page(matrix.session(principal).get(matrix.url(ROUTES[row])))

        # then
        if got != expected and not (expected == "hide" and got in ("mask", "none")):
            mismatches.append(f"{row} × {principal}: want {expected}, got {got}")

    assert not mismatches, report(mismatches)
