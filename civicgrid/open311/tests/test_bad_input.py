"""Every refusal of the Open311 endpoints: the spec's error list, the right HTTP status, and
nothing saved (no case, no audit record)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import time_machine

from civicgrid.accounts.services import client_key_revoke
from civicgrid.cases.tests.factories import World

from .conftest import Client, assert_errors, counts, fields, issue_key, post

pytestmark = pytest.mark.django_db(transaction=True)


# --------------------------------------------------------------------------- api_key (403)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_missing_api_key_is_403(o311: httpx.Client, world: World, fmt: str) -> None:
    # given
    before = counts()
    # when
    response = post(o311, None, fields(world), fmt=fmt)
    empty = post(o311, None, fields(world, api_key=""), fmt=fmt)
    # then
    assert_errors(response, 403, fmt=fmt, contains="api_key")
    assert_errors(empty, 403, fmt=fmt)
    assert counts() == before


def test_wrong_api_key_is_403(o311: httpx.Client, world: World) -> None:
    # given
    before = counts()
    # when
    response = post(o311, None, fields(world, api_key="not-a-key"))
    # then
    assert_errors(response, 403, contains="api_key")
    assert counts() == before


def test_revoked_api_key_is_403(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    client_key_revoke(actor=None, key=app.key)
    before = counts()
    # when
    in_body = post(o311, app, fields(world))
    in_query = post(o311, app, fields(world), key_in="query", fmt="xml")
    # then
    assert_errors(in_body, 403)
    assert_errors(in_query, 403, fmt="xml")
    assert counts() == before


# --------------------------------------------------------------------------- fields (400)


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"service_code": "Z9999"}, "service_code: Unknown service_code Z9999"),
    ({"service_code": "E01"}, "service_code"),  # a branch is not a service
    ({"service_code": None}, "service_code: service_code is required"),
    ({"lat": None, "long": None}, "needs a location"),
    ({"lat": "", "long": "", "address_string": "", "address_id": ""}, "needs a location"),
    ({"lat": "95", "long": "116.45"}, "lat: lat 95 is out of range"),
    ({"lat": "39.9", "long": "-181"}, "long: long -181 is out of range"),
    ({"lat": "north", "long": "116.45"}, "lat: lat must be a number"),
    ({"lat": "39.9", "long": "1_16"}, "long: long must be a number"),
    ({"lat": "nan", "long": "116.45"}, "lat: lat must be a number"),
    ({"lat": "39.9", "long": None}, "long: Give long together with lat"),
    ({"lat": None, "long": "116.45"}, "lat: Give lat together with long"),
    ({"lat": "38.0", "long": "100.0"}, "lat: "),  # outside every grid cell
    ({"lat": None, "long": None, "address_id": "12345"}, "address_id: address_id is the"),
    ({"lat": None, "long": None, "address_id": "110105001001999"}, "Unknown address_id"),
    ({"description": "x" * 4001}, "description: description is 4001 characters long"),
    ({"description": "Look <script>alert(1)</script>"}, "description must be plain text"),
    ({"description": "a <b>bold</b> pile"}, "description must be plain text"),
    ({"description": "see <!-- hidden -->"}, "description must be plain text"),
    ({"media_url": "ftp://files.example.com/a.jpg"}, "media_url: "),
    ({"media_url": "not a url"}, "media_url: "),
    ({"email": "nobody-at-example"}, "email: "),
    ({"phone": "1" * 21}, "phone: "),
    ({"address_string": "x" * 201}, "address_string: "),
    ({"jurisdiction_id": "elsewhere.gov"}, "jurisdiction_id"),
]


def test_bad_field_is_400_and_saves_nothing(
    o311: httpx.Client, world: World, app: Client, subtests: pytest.Subtests
) -> None:
    for overrides, contains in BAD_FIELDS:
        with subtests.test(msg=contains, overrides=overrides):
            # given
            before = counts()
            status = 404 if "jurisdiction_id" in overrides else 400
            # when
            response = post(o311, app, fields(world, **overrides))
            # then
            assert_errors(response, status, contains=contains)
            assert counts() == before


def test_several_problems_are_listed_together(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # given
    before = counts()
    body = fields(world, service_code=None, lat="91", description="<i>x</i>")
    # when
    as_json = post(o311, app, body)
    as_xml = post(o311, app, body, fmt="xml")
    # then
    expected = [
        "service_code: service_code is required.",
        "lat: lat 91 is out of range (-90 to 90).",
        "description: description must be plain text, without HTML.",
    ]
    assert assert_errors(as_json, 400) == expected
    assert assert_errors(as_xml, 400, fmt="xml") == expected
    assert counts() == before


BAD_ANSWERS: list[tuple[str, dict[str, Any], str]] = [
    ("C0102", {}, "attribute[pole_number]: Answer pole_number"),
    ("C0102", {"attribute[pole_number]": "  "}, "attribute[pole_number]: Answer"),
    ("E0101", {"attribute[bin_state]": "empty"}, "attribute[bin_state]: empty is not a choice"),
    ("E0101", {"attribute[bin_state][]": ["full", "overflowing"]}, "attribute[bin_state]"),
    ("E0101", {"attribute[kinds][]": ["household", "toxic"]}, "attribute[kinds]: toxic"),
    ("E0101", {"attribute[kinds]": ["bulky", "glass"]}, "attribute[kinds]: glass"),
    ("E0101", {"attribute[colour]": "red"}, "attribute[colour]: Category E0101 asks no"),
    ("E0101", {"attribute[notice]": "hi"}, "attribute[notice]"),  # informational line
    ("E0101", {"attribute[volume]": "lots"}, "attribute[volume]: "),
]


def test_bad_attribute_answer_is_400(
    o311: httpx.Client, world: World, app: Client, subtests: pytest.Subtests
) -> None:
    for service_code, answers, contains in BAD_ANSWERS:
        with subtests.test(msg=contains, answers=answers):
            # given
            before = counts()
            # when
            response = post(o311, app, fields(world, service_code=service_code, **answers))
            # then
            assert_errors(response, 400, contains=contains)
            assert counts() == before


def test_body_that_is_not_a_form_is_400(
    o311: httpx.Client, world: World, app: Client, subtests: pytest.Subtests
) -> None:
    bodies = [
        (b'{"service_code": "E0101"}', "application/json"),
        (b"service_code=E0101", "text/plain"),
        (b"", ""),
    ]
    for content, content_type in bodies:
        with subtests.test(msg=content_type or "no content type"):
            # given
            before = counts()
            headers = {"Content-Type": content_type} if content_type else {}
            # when
            response = o311.post(
                "/requests.xml", params={"api_key": app.raw}, content=content, headers=headers
            )
            # then
            assert_errors(response, 400, fmt="xml", contains="form-encoded")
            assert counts() == before


def test_over_long_idempotency_key_is_400(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    before = counts()
    # when
    response = post(o311, app, fields(world), headers={"Idempotency-Key": "k" * 65})
    # then
    assert_errors(response, 400, contains="Idempotency-Key")
    assert counts() == before


def test_description_of_exactly_4000_characters_is_accepted(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # when
    response = post(o311, app, fields(world, description="y" * 4000))
    # then
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------- rate limit (429)


def test_rate_limit_refuses_the_third_post_in_a_minute(o311: httpx.Client, world: World) -> None:
    # given
    slow = issue_key("slow-app", rate_per_minute=2)
    with time_machine.travel(dt.datetime(2026, 11, 30, 2, 0, 1, tzinfo=dt.UTC), tick=True):
        assert post(o311, slow, fields(world)).status_code == 200
        assert post(o311, slow, fields(world)).status_code == 200
        before = counts()
        # when
        response = post(o311, slow, fields(world))
        as_xml = post(o311, slow, fields(world), fmt="xml")
    # then
    assert_errors(response, 429, contains="more than 2 requests")
    assert_errors(as_xml, 429, fmt="xml")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert counts() == before


# --------------------------------------------------------------------------- GET filters (400)


BAD_FILTERS: list[tuple[dict[str, str], str]] = [
    ({"start_date": "2026-11-01"}, "start_date: start_date must be a W3C date-time"),
    ({"start_date": "2026-11-01T09:00:00"}, "no time zone"),
    ({"end_date": "2026-02-30T09:00:00Z"}, "end_date: "),
    ({"end_date": "yesterday"}, "end_date: "),
    ({"start_date": "2026-11-01T09:00:00+15:00"}, "start_date: "),
    (
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:01Z"},
        "at most 90 days apart",
    ),
    (
        {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"},
        "start_date is after end_date",
    ),
    ({"status": "pending"}, "status: Unknown status pending"),
    ({"status": "open,archived"}, "Unknown status archived"),
    ({"page": "0"}, "page: "),
    ({"page": "two"}, "page: "),
    ({"page_size": "1001"}, "page_size: "),
    ({"extensions": "maybe"}, "extensions: "),
]


def test_bad_list_filter_is_400(
    o311: httpx.Client, world: World, subtests: pytest.Subtests
) -> None:
    for params, contains in BAD_FILTERS:
        with subtests.test(msg=contains, params=params):
            # when
            response = o311.get("/requests.json", params=params)
            # then
            assert_errors(response, 400, contains=contains)
            assert response.headers["access-control-allow-origin"] == "*"


def test_bad_filter_in_xml(o311: httpx.Client, world: World) -> None:
    # when
    response = o311.get("/requests.xml", params={"status": "nope", "start_date": "2026"})
    # then
    assert assert_errors(response, 400, fmt="xml") == [
        "status: Unknown status nope: use open, closed or both (open,closed).",
        "start_date: start_date must be a W3C date-time with its zone, such as "
        "2026-11-28T09:30:00+08:00 (not a W3C date-time such as 2026-11-28T09:30:00+08:00).",
    ]


def test_unknown_jurisdiction_is_404_everywhere(o311: httpx.Client, world: World) -> None:
    # then
    for path in ("/services.json", "/services/E0101.json", "/requests.json"):
        assert_errors(o311.get(path, params={"jurisdiction_id": "x.gov"}), 404)
    assert o311.get("/services.json", params={"jurisdiction_id": "110105"}).status_code == 200
