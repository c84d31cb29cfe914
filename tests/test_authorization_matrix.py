"""The authorization matrix: every page and API read, and the intake/work steps, for every role.

One table per kind of operation; a row is a URL (or an API operation), a column a principal, a
cell the expected outcome. The tests walk the tables with Django's test ``Client`` and collect
every mismatching cell before asserting, so one failing run shows the whole picture.

Columns (``PRINCIPALS``), abbreviated in the table headers:

    anon   nobody logged in
    res    ``resident``, the reporter of the case
    res2   ``resident2``, another resident
    grid   ``grid_worker``         oper   ``operator``         shft  ``shift_leader``
    disp   ``dispatcher``          sup    ``supervisor``       comm  ``committee_member``
    cln    ``clean_handler``, the unit the case is dispatched to (clean-co)
    lgt    ``lights_handler``, another contractor
    othr   ``other_operator``, an operator of another community
    adm    ``admin``

Outcome codes:

    ok     2xx
    log    302 to the login page (pages behind ``roles_required``, anonymous)
    home   302 to the home page (the login page, for someone logged in already)
    case   302 back to the case page (a web workflow step that was done)
    401    the API without credentials
    403    a workflow step refused by the service (wrong role) — nothing written
    404    missing, or forbidden: the two look the same (``roles_required``, ``access_case``)

The world: ``build_world(second_community=True)``; one garbage case (routed to clean-co)
reported by ``resident`` with a photo and walked to ``dispatched``, so ``clean_handler`` holds
it; a client key for the key pages. Every API read is made twice, once with the session of a
``force_login`` and once with a Bearer token from ``api_token_issue``: both must give the
same answer. Workflow steps use a fresh case per (row, principal): refusals must change
nothing (case row, traces, audit records); the allowed principals must move the case.

Where the code's behaviour is a bug rather than a choice, the row is ``xfail(strict=True)``
with the reason, and the table says what the code should do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.test.client import MULTIPART_CONTENT

from civicgrid.accounts.services import (
    api_token_issue,
    client_key_issue,
    organization_create_client,
)
from civicgrid.cases import services as s
from civicgrid.cases.models import Case, CasePhoto, Status, Trace
from civicgrid.cases.schemas import mask_email, mask_name, mask_phone
from civicgrid.cases.tests.factories import World, build_world, photo, submit
from civicgrid.core.models import AuditRecord

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

# --------------------------------------------------------------------------- the tables

# What each row requests. Placeholders: {case} the case number, {photo} its report photo,
# {key} a client key id, {lat}/{lng} a point in the grid.
ROUTES: dict[str, str] = {
    # pages
    "web home": "/",
    "web public cases": "/public/cases/",
    "web my cases": "/my/",
    "web queue": "/queue/",
    "web report": "/report/",
    "web report quest.": "/report/questions/?category=E0101",
    "web report dups": "/report/duplicates/?category=E0101&lat={lat}&lng={lng}",
    "web case detail": "/cases/{case}/",
    "web case photo": "/cases/{case}/photos/{photo}/",
    "web keys": "/keys/",
    "web key revoke": "/keys/{key}/revoke/",
    "web map cells": "/map/cells.geojson",
    "web login": "/accounts/login/",
    # JSON API reads
    "api auth/me": "/api/v1/auth/me",
    "api categories": "/api/v1/categories",
    "api cases": "/api/v1/cases",
    "api queue": "/api/v1/cases/queue",
    "api duplicates": "/api/v1/cases/duplicates?category=E0101&lat={lat}&lng={lng}",
    "api case detail": "/api/v1/cases/{case}",
    "api timeline": "/api/v1/cases/{case}/timeline",
    "api photo": "/api/v1/cases/{case}/photos/{photo}",
    "api public cases": "/api/v1/public/cases",
    "api public case": "/api/v1/public/cases/{case}",
    "api public categ.": "/api/v1/public/categories",
    "api public cells": "/api/v1/public/cells",
    # Open311 reads (no credentials; cookies are ignored) and operations
    "o311 services": "/open311/v2/services.json",
    "o311 requests": "/open311/v2/requests.json",
    "o311 request": "/open311/v2/requests/{case}.json",
    "o311 req. notes": "/open311/v2/requests/{case}.json?extensions=true",
    "healthz": "/healthz",
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
    "web login":         "ok   home home home home home home home home home home home home",
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
    "o311 services":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 requests":     "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 request":      "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "o311 req. notes":   "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    "healthz":           "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
}

# The public projections: whoever asks, the reporter's name, phone and email are never in them.
PUBLIC_ROWS = frozenset(
    {
        "web public cases",
        "api public cases",
        "api public case",
        "o311 requests",
        "o311 request",
        "o311 req. notes",
    }
)

# Whether the case is among the items of GET /api/v1/cases (everything the caller may list).
LISTED: dict[str, str] = {
    #                     anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    "api cases":         "401  yes  no   yes  yes  yes  yes  yes  yes  yes  no   no   yes",
}

# Workflow steps, each on a fresh case per principal: "accept" on a reported case (operator),
# "start" on a dispatched one (the unit holding it). The reporter passes access_case for
# ACT (they may check and rate), so the service refuses them by role: 403, not 404.
STEPS: dict[str, str] = {
    #                     anon res  res2 grid oper shft disp sup  comm cln  lgt  othr adm
    "api accept":        "401  403  404  403  ok   403  403  403  403  404  404  404  ok",
    "api start":         "401  403  404  403  403  403  403  403  403  ok   404  404  ok",
    "web accept":        "log  403  404  403  case 403  403  403  403  404  404  404  case",
    "web start":         "log  403  404  403  403  403  403  403  403  case 404  404  case",
}

# The reporter's name, phone and email on the case's full record. clear: as reported;
# mask: masked (138****8000); none: not shown at all (or no access); hide: mask or none.
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

STEP_ROUTES = {
    "api accept": "/api/v1/cases/{case}/accept",
    "api start": "/api/v1/cases/{case}/start",
    "web accept": "/cases/{case}/accept/",
    "web start": "/cases/{case}/start/",
}
STEP_DONE = {
    "api accept": Status.ACCEPTED,
    "api start": Status.PROCESSING,
    "web accept": Status.ACCEPTED,
    "web start": Status.PROCESSING,
}


def cells(table: dict[str, str], row: str) -> dict[str, str]:
    codes = table[row].split()
    assert len(codes) == len(PRINCIPALS), f"row {row!r} has {len(codes)} cells"
    return dict(zip(PRINCIPALS, codes, strict=True))


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


@dataclass
class Matrix:
    world: World
    case: Case
    values: dict[str, Any]
    tokens: dict[str, str]

    def url(self, template: str, case: Case | None = None) -> str:
        return template.format(**{**self.values, "case": (case or self.case).number})

    def session(self, principal: str) -> Client:
        client = Client()
        if principal != "anonymous":
            client.force_login(self.world.users[principal])
        return client

    def bearer(self, principal: str) -> Client:
        if principal == "anonymous":
            return Client()
        return Client(HTTP_AUTHORIZATION=f"Bearer {self.tokens[principal]}")


def dispatched(world: World, **overrides: Any) -> Case:
    case = submit(world, **overrides)
    s.case_accept(actor=world.users["operator"], case=case)
    s.case_file(actor=world.users["shift_leader"], case=case)
    s.case_dispatch(actor=world.users["dispatcher"], case=case)
    return Case.objects.get(pk=case.pk)


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
    admin = world.users["admin"]
    client_org = organization_create_client(actor=admin, code="app", name="应用")
    key, _raw = client_key_issue(actor=admin, organization=client_org, name="app key")
    report_photo = CasePhoto.objects.get(case=case)
    tokens = {
        name: api_token_issue(actor=None, user=user, name="matrix")[1]
        for name, user in world.users.items()
    }
    values = {
        "photo": report_photo.pk,
        "key": key.pk,
        "lat": world.inside_lat,
        "lng": world.inside_lng,
    }
    return Matrix(world=world, case=case, values=values, tokens=tokens)


def outcome(response: Any, case: Case | None = None) -> str:
    """The code of a response, as in the tables."""
    status = response.status_code
    if 200 <= status < 300:
        return "ok"
    if status == 302:
        location = response["Location"]
        if location.startswith("/accounts/login/"):
            return "log"
        if location == "/":
            return "home"
        if case is not None and location == f"/cases/{case.number}/":
            return "case"
        return f"302 {location}"
    return str(status)


def leaks_personal_data(response: Any) -> bool:
    body = response.content.decode()
    escaped_name = json.dumps(REPORTER_NAME)[1:-1]  # as a JSON renderer with ensure_ascii
    values = (REPORTER_NAME, escaped_name, REPORTER_PHONE, REPORTER_EMAIL)
    return any(value in body for value in values)


def report(mismatches: list[str]) -> str:
    return "mismatching cells:\n  " + "\n  ".join(mismatches)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("row", rows(READS))
def test_read_matrix(row: str):
    # given
    matrix = build_matrix()
    url = matrix.url(ROUTES[row])
    transports = ("session", "bearer") if row.startswith("api ") else ("session",)
    mismatches = []

    # when
    for principal, expected in cells(READS, row).items():
        for transport in transports:
            client = getattr(matrix, transport)(principal)
            response = client.get(url)
            got = outcome(response)
            # then
            if got != expected:
                mismatches.append(f"{row} × {principal} ({transport}): want {expected}, got {got}")
            if row in PUBLIC_ROWS and leaks_personal_data(response):
                mismatches.append(f"{row} × {principal} ({transport}): personal data in it")

    # then
    assert not mismatches, report(mismatches)


def test_case_list_shows_the_case_to_those_in_scope_only():
    # given
    matrix = build_matrix()
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


def snapshot(case: Case) -> tuple[Any, ...]:
    row = Case.objects.filter(pk=case.pk).values_list("status", "unit_id", "updated_at").get()
    return row, Trace.objects.filter(case=case).count(), AuditRecord.objects.count()


@pytest.mark.parametrize("row", rows(STEPS))
def test_workflow_step_matrix(row: str):
    # given
    matrix = build_matrix()
    world = matrix.world
    mismatches = []

    for principal, expected in cells(STEPS, row).items():
        case = submit(world) if row.endswith("accept") else dispatched(world)
        before = snapshot(case)
        url = matrix.url(STEP_ROUTES[row], case)

        # when
        if row.startswith("api "):
            response = matrix.bearer(principal).post(
                url, data={"note": "matrix"}, content_type="application/json"
            )
        else:
            response = matrix.session(principal).post(
                url, data={"note": "matrix"}, content_type=MULTIPART_CONTENT
            )

        # then
        got = outcome(response, case)
        status = Case.objects.get(pk=case.pk).status
        if got != expected:
            mismatches.append(f"{row} × {principal}: want {expected}, got {got}")
        if expected in ("ok", "case"):
            if status != STEP_DONE[row]:
                mismatches.append(f"{row} × {principal}: allowed, but the case is {status}")
        elif snapshot(case) != before:
            mismatches.append(f"{row} × {principal}: refused ({got}), but something was written")

    assert not mismatches, report(mismatches)


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
def test_personal_fields_matrix(row: str):
    # given
    matrix = build_matrix()
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
