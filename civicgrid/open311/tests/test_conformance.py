"""GeoReport v2, method by method, over real HTTP: discovery, services, service definitions,
POST requests, tokens, GET requests, GET request, the format rules and this server's
extensions (paging, notes, the Atom feed)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml import ElementTree as SafeET
from django.test import Client as DjangoClient
from django.utils import timezone

from civicgrid.cases import services as s
from civicgrid.cases.models import CancelReason, Case, Source, Status
from civicgrid.cases.tests.factories import World, photo, submit
from civicgrid.core.datetimes import format_w3_datetime
from civicgrid.open311 import selectors as open311_selectors
from civicgrid.open311.mapping import OPEN311_STATUS, request_token

from .conftest import Client, assert_errors, counts, fields, issue_key, post, xml_root, xml_text

pytestmark = pytest.mark.django_db(transaction=True)

W3_WITH_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def children(element: Element) -> list[str]:
    return [child.tag for child in element]


def make_case(world: World, **overrides: Any) -> Case:
    """A case as a resident reports it on the site (not through Open311)."""
    return submit(world, **overrides)


def dispatched(world: World, **overrides: Any) -> Case:
    u = world.users
    case = make_case(world, **overrides)
    s.case_accept(actor=u["operator"], case=case)
    s.case_file(actor=u["shift_leader"], case=case)
    s.case_dispatch(actor=u["dispatcher"], case=case)
    case.refresh_from_db()
    return case


def closed(world: World, **overrides: Any) -> Case:
    u = world.users
    case = dispatched(world, **overrides)
    s.case_start(actor=u["clean_handler"], case=case)
    s.case_process(actor=u["clean_handler"], case=case, note="cleared", photos=[photo()])
    s.case_check_start(actor=u["grid_worker"], case=case)
    s.case_check_finish(actor=u["grid_worker"], case=case, passed=True)
    case.refresh_from_db()
    return case


def cancelled(
    world: World, reason: str, *, duplicate_of: Case | None = None, **overrides: Any
) -> Case:
    case = make_case(world, **overrides)
    s.case_cancel(
        actor=world.users["operator"],
        case=case,
        reason=reason,
        note="staff only note",
        duplicate_of=duplicate_of,
    )
    case.refresh_from_db()
    return case


def listed_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


# --------------------------------------------------------------------------- discovery


def test_discovery_in_xml_and_json(o311: httpx.Client, live_server: Any) -> None:
    # when
    as_json = httpx.get(f"{live_server.url}/open311/discovery.json")
    as_xml = httpx.get(f"{live_server.url}/open311/discovery.xml")
    # then
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    body = as_json.json()
    assert list(body) == ["changeset", "contact", "key_service", "endpoints"]
    assert W3_WITH_ZONE.match(body["changeset"])
    assert body["contact"] and body["key_service"]
    assert body["endpoints"] == [
        {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": f"{live_server.url}/open311/v2",
            "changeset": body["changeset"],
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }
    ]
    root = xml_root(as_xml)
    assert root.tag == "discovery"
    assert children(root) == ["changeset", "contact", "key_service", "endpoints"]
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert xml_text(endpoint, "url") == f"{live_server.url}/open311/v2"
    assert xml_text(endpoint, "specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.findall("formats/format")] == [
        "text/xml",
        "application/json",
    ]


# --------------------------------------------------------------------------- services


def test_services_list_public_active_leaves_with_their_fields(
    o311: httpx.Client, world: World
) -> None:
    # given
    world.categories["manhole"].is_public = False
    world.categories["manhole"].save()
    world.categories["garbage"].filing_condition = "Rubbish exposed for more than 2 hours"
    world.categories["garbage"].save()
    # when
    as_json = o311.get("/services.json")
    as_xml = o311.get("/services.xml")
    # then
    assert as_json.status_code == 200
    assert as_json.headers["access-control-allow-origin"] == "*"
    assert as_json.json() == [
        {
            "service_code": "C0102",
            "service_name": "Street light",
            "description": "Street light",
            "metadata": True,
            "type": "realtime",
            "keywords": "Components, Public utilities",
            "group": "Public utilities",
        },
        {
            "service_code": "E0101",
            "service_name": "Exposed rubbish",
            "description": "Rubbish exposed for more than 2 hours",
            "metadata": True,
            "type": "realtime",
            "keywords": "Events, Environment",
            "group": "Environment",
        },
    ]
    root = xml_root(as_xml)
    assert root.tag == "services"
    services = root.findall("service")
    assert [xml_text(e, "service_code") for e in services] == ["C0102", "E0101"]
    assert children(services[0]) == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert xml_text(services[0], "metadata") == "true"


def test_services_metadata_false_without_questions(o311: httpx.Client, world: World) -> None:
    # given
    world.categories["light"].attributes = []
    world.categories["light"].save()
    # when
    services = o311.get("/services.json").json()
    # then
    assert [(x["service_code"], x["metadata"]) for x in services] == [
        ("C0101", False),
        ("C0102", False),
        ("E0101", True),
    ]


def test_services_speak_the_request_language(o311: httpx.Client, world: World) -> None:
    # when
    chinese = o311.get("/services.json", headers={"Accept-Language": "zh-Hans"}).json()
    english = o311.get("/services.json", headers={"Accept-Language": "en"}).json()
    # then
    assert [x["service_name"] for x in chinese] == ["污水井盖", "路灯", "暴露垃圾"]
    assert chinese[2]["group"] == "市容环境"
    assert chinese[2]["keywords"] == "事件, 市容环境"
    assert [x["service_name"] for x in english] == [
        "Sewage manhole cover",
        "Street light",
        "Exposed rubbish",
    ]


# --------------------------------------------------------------------------- service definition


def test_service_definition_lists_each_attribute(o311: httpx.Client, world: World) -> None:
    # when
    response = o311.get("/services/E0101.json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["service_code"] == "E0101"
    assert body["attributes"] == [
        {
            "variable": False,
            "code": "notice",
            "datatype": "string",
            "required": False,
            "datatype_description": "",
            "order": 1,
            "description": "Do not enter personal data",
            "values": [],
        },
        {
            "variable": True,
            "code": "bin_state",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "Pick one",
            "order": 2,
            "description": "State of the bin",
            "values": [
                {"key": "full", "name": "Full"},
                {"key": "overflowing", "name": "Overflowing"},
            ],
        },
        {
            "variable": True,
            "code": "kinds",
            "datatype": "multivaluelist",
            "required": False,
            "datatype_description": "",
            "order": 3,
            "description": "Kinds of rubbish",
            "values": [
                {"key": "household", "name": "Household"},
                {"key": "construction", "name": "Construction"},
                {"key": "bulky", "name": "Bulky"},
            ],
        },
        {
            "variable": True,
            "code": "volume",
            "datatype": "number",
            "required": False,
            "datatype_description": "",
            "order": 4,
            "description": "Volume (cubic metres)",
            "values": [],
        },
    ]


def test_service_definition_in_xml_and_through_the_service_alias(
    o311: httpx.Client, world: World
) -> None:
    # when
    plural = o311.get("/services/C0102.xml")
    alias = o311.get("/service/C0102.xml", params={"jurisdiction_id": ""})
    chinese = o311.get("/service/E0101.json", headers={"Accept-Language": "zh-Hans"})
    # then
    assert alias.content == plural.content
    root = xml_root(plural)
    assert root.tag == "service_definition"
    assert children(root) == ["service_code", "attributes"]
    attribute = root.find("attributes/attribute")
    assert attribute is not None
    assert children(attribute) == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert xml_text(attribute, "required") == "true"
    assert xml_text(attribute, "description") == "Pole number"
    bins = chinese.json()["attributes"][1]
    assert bins["description"] == "垃圾桶状态"
    assert bins["values"] == [
        {"key": "full", "name": "已满"},
        {"key": "overflowing", "name": "溢出"},
    ]
    xml_values = xml_root(o311.get("/services/E0101.xml")).findall(
        "attributes/attribute/values/value"
    )
    assert [(xml_text(v, "key"), xml_text(v, "name")) for v in xml_values][:2] == [
        ("full", "Full"),
        ("overflowing", "Overflowing"),
    ]


def test_service_definition_of_unknown_or_non_public_service_is_404(
    o311: httpx.Client, world: World
) -> None:
    # given
    world.categories["manhole"].is_public = False
    world.categories["manhole"].save()
    # then
    assert_errors(o311.get("/services/X9999.json"), 404)
    assert_errors(o311.get("/services/C0101.xml"), 404, fmt="xml")
    assert_errors(o311.get("/services/E01.json"), 404)  # a branch, not a service


# --------------------------------------------------------------------------- POST requests


def test_post_creates_a_case_with_every_field(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # given
    body = fields(
        world,
        email="li.wei@example.com",
        device_id="device-77",
        account_id="acct-42",
        first_name="Wei",
        last_name="Li",
        phone="13912345678",
        media_url="https://photos.example.com/p/1.jpg",
        address_string="North gate of block 3",
        **{"attribute[bin_state]": "full", "attribute[kinds][]": ["household", "bulky"]},
        **{"attribute[volume]": "2.5"},
    )
    # when
    response = post(o311, app, body)
    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    [created] = response.json()
    case = Case.objects.get()
    assert created == {
        "service_request_id": case.number,
        "token": request_token(case),
        "service_notice": "",
        "account_id": "",
    }
    assert isinstance(created["service_request_id"], str)
    assert case.source == Source.OPEN311
    assert case.client_key == app.key
    assert case.category.code == "E0101"
    assert case.description == "Rubbish piled at the gate <3"
    assert (case.lat, case.lng) == (world.inside_lat, world.inside_lng)
    assert case.cell is not None and case.cell.code == "110105001001005"
    assert case.address == "North gate of block 3"
    assert case.reporter is None
    assert case.reporter_name == "Wei Li"
    assert case.reporter_phone == "13912345678"
    assert case.reporter_email == "li.wei@example.com"
    assert case.client_ref == "acct-42"
    assert case.is_anonymous is False
    assert case.media_url == "https://photos.example.com/p/1.jpg"
    assert case.attributes == {"bin_state": "full", "kinds": ["household", "bulky"], "volume": 2.5}
    assert case.status == Status.REPORTED


def test_post_answers_in_xml(o311: httpx.Client, world: World, app: Client) -> None:
    # when
    response = post(o311, app, fields(world, device_id="device-1"), fmt="xml")
    # then
    assert response.status_code == 200, response.text
    root = xml_root(response)
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert children(request) == ["service_request_id", "token", "service_notice", "account_id"]
    case = Case.objects.get()
    assert xml_text(request, "service_request_id") == case.number
    assert xml_text(request, "token") == request_token(case)
    assert case.client_ref == "device-1"
    assert case.is_anonymous is True


def test_post_with_address_string_only(o311: httpx.Client, world: World, app: Client) -> None:
    # when
    response = post(o311, app, fields(world, lat=None, long=None, address_string="12 Garden Road"))
    # then
    assert response.status_code == 200, response.text
    case = Case.objects.get()
    assert (case.lat, case.lng, case.cell) == (None, None, None)
    assert case.address == "12 Garden Road"
    shown = o311.get(f"/requests/{case.number}.json").json()[0]
    assert (shown["lat"], shown["long"], shown["address"]) == (None, None, "12 Garden Road")


def test_post_with_address_id_places_the_case_inside_that_cell(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # when
    response = post(o311, app, fields(world, lat=None, long=None, address_id="110105001001007"))
    # then
    assert response.status_code == 200, response.text
    case = Case.objects.get()
    assert case.cell is not None and case.cell.code == "110105001001007"
    assert case.address == "网格7"
    assert case.lat is not None and case.cell.min_lat < case.lat < case.cell.max_lat
    assert case.lng is not None and case.cell.min_lng < case.lng < case.cell.max_lng


def test_post_multi_value_attribute_as_repeated_field(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # when
    response = post(o311, app, fields(world, **{"attribute[kinds]": ["construction", "bulky"]}))
    light = post(
        o311, app, fields(world, service_code="C0102", **{"attribute[pole_number]": "L-0042"})
    )
    # then
    assert response.status_code == 200, response.text
    assert light.status_code == 200, light.text
    by_code = {c.category.code: c.attributes for c in Case.objects.select_related("category")}
    assert by_code == {
        "E0101": {"kinds": ["construction", "bulky"]},
        "C0102": {"pole_number": "L-0042"},
    }


def test_post_multipart_form_is_accepted(o311: httpx.Client, world: World, app: Client) -> None:
    # when
    response = o311.post(
        "/requests.json",
        data={**fields(world), "api_key": app.raw},
        files={"unused": ("note.txt", b"x", "text/plain")},
    )
    # then
    assert response.status_code == 200, response.text
    assert Case.objects.count() == 1


def test_idempotency_key_returns_the_same_case(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # given
    other = issue_key("other-app")
    headers = {"Idempotency-Key": "retry-1"}
    # when
    first = post(o311, app, fields(world), headers=headers)
    again = post(o311, app, fields(world), headers=headers)
    other_app = post(o311, other, fields(world), headers=headers)
    # then
    assert first.status_code == again.status_code == other_app.status_code == 200
    assert again.json() == first.json()
    assert other_app.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]
    assert Case.objects.count() == 2
    assert Case.objects.get(number=first.json()[0]["service_request_id"]).submission_key == (
        f"o311:{app.key.pk}:retry-1"
    )


def test_api_key_in_query_or_body_records_that_key(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # given
    other = issue_key("other-app")
    # when
    in_query = post(o311, app, fields(world), key_in="query")
    in_body = post(o311, other, fields(world), key_in="body")
    # then
    assert in_query.status_code == in_body.status_code == 200
    number_q = in_query.json()[0]["service_request_id"]
    number_b = in_body.json()[0]["service_request_id"]
    assert Case.objects.get(number=number_q).client_key == app.key
    assert Case.objects.get(number=number_b).client_key == other.key


def test_python_open311_client_style_calls(
    o311: httpx.Client, world: World, app: Client, live_server: Any
) -> None:
    """The Python ``open311`` client: endpoint with a trailing slash + "/requests.xml",
    ``jurisdiction_id=`` empty and ``api_key`` in the query."""
    # given
    endpoint = f"{live_server.url}/open311/v2/"
    query = {"jurisdiction_id": "", "api_key": app.raw}
    # when
    response = httpx.post(endpoint + "/requests.xml", params=query, data=fields(world))
    with_district = httpx.post(
        endpoint + "requests.json",
        params={"jurisdiction_id": "110105", "api_key": app.raw},
        data=fields(world),
    )
    definition = httpx.get(endpoint + "/service/E0101.xml", params={"jurisdiction_id": ""})
    # then
    assert response.status_code == 200, response.text
    assert with_district.status_code == 200, with_district.text
    assert xml_root(response).tag == "service_requests"
    assert definition.status_code == 200
    assert Case.objects.count() == 2


def test_post_without_description_uses_the_service_name(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # when
    response = post(o311, app, fields(world, description=""))
    # then
    assert response.status_code == 200, response.text
    assert Case.objects.get().description == "Exposed rubbish"


# --------------------------------------------------------------------------- tokens


def test_token_gives_the_request_id(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    created = post(o311, app, fields(world)).json()[0]
    # when
    as_json = o311.get(f"/tokens/{created['token']}.json")
    as_xml = o311.get(f"/tokens/{created['token']}.xml")
    # then
    assert as_json.status_code == 200
    assert as_json.json() == [
        {"service_request_id": created["service_request_id"], "token": created["token"]}
    ]
    request = xml_root(as_xml).find("request")
    assert request is not None
    assert children(request) == ["service_request_id", "token"]
    assert xml_text(request, "service_request_id") == created["service_request_id"]


def test_bad_or_forged_token_is_404(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    created = post(o311, app, fields(world)).json()[0]
    number, signature = created["token"].split(".", 1)
    forged = f"{int(number) + 1}.{signature}"
    # then
    assert_errors(o311.get(f"/tokens/{forged}.json"), 404)
    assert_errors(o311.get("/tokens/nonsense.xml"), 404, fmt="xml")


# --------------------------------------------------------------------------- GET requests


def test_request_fields_in_order_and_types(o311: httpx.Client, world: World) -> None:
    # given
    case = dispatched(world, address="Gate 2", reporter_name="Someone")
    # when
    as_json = o311.get("/requests.json")
    as_xml = o311.get("/requests.xml")
    # then
    assert as_json.headers["access-control-allow-origin"] == "*"
    [shown] = as_json.json()
    assert list(shown) == REQUEST_FIELDS
    assert shown == {
        "service_request_id": case.number,
        "status": "open",
        "status_notes": "Dispatched",
        "service_name": "Exposed rubbish",
        "service_code": "E0101",
        "description": "小区门口有一堆垃圾没人清理",
        "agency_responsible": "clean-co",
        "service_notice": "",
        "requested_datetime": format_w3_datetime(case.reported_at),
        "updated_datetime": format_w3_datetime(case.updated_at),
        "expected_datetime": format_w3_datetime(case.disposal_deadline_at),
        "address": "Gate 2",
        "address_id": "110105001001005",
        "zipcode": "",
        "lat": round(world.inside_lat, 5),
        "long": round(world.inside_lng, 5),
        "media_url": "",
    }
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3_WITH_ZONE.match(shown[name]), shown[name]
    root = xml_root(as_xml)
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert children(request) == REQUEST_FIELDS
    assert xml_text(request, "lat") == str(round(world.inside_lat, 5))
    assert xml_text(request, "zipcode") == ""


def test_agency_and_notes_speak_the_request_language(o311: httpx.Client, world: World) -> None:
    # given
    dispatched(world)
    # when
    shown = o311.get("/requests.json", headers={"Accept-Language": "zh-Hans"}).json()[0]
    # then
    assert shown["agency_responsible"] == "洁城环卫公司"
    assert shown["service_name"] == "暴露垃圾"


def test_list_filters_by_service_code_status_and_ids(o311: httpx.Client, world: World) -> None:
    # given
    rubbish = make_case(world)
    light = make_case(world, category=world.categories["light"], attributes={"pole_number": "7"})
    done = closed(world)
    gone = cancelled(world, CancelReason.NOT_OURS, category=world.categories["manhole"])
    # when / then
    assert listed_ids(o311.get("/requests.json")) == [
        gone.number,
        done.number,
        light.number,
        rubbish.number,
    ]
    assert listed_ids(o311.get("/requests.json", params={"service_code": "C0102"})) == [
        light.number
    ]
    assert listed_ids(o311.get("/requests.json", params={"service_code": "C0102,C0101"})) == [
        gone.number,
        light.number,
    ]
    assert listed_ids(o311.get("/requests.json", params={"status": "closed"})) == [
        gone.number,
        done.number,
    ]
    assert listed_ids(o311.get("/requests.json", params={"status": "open"})) == [
        light.number,
        rubbish.number,
    ]
    assert len(listed_ids(o311.get("/requests.json", params={"status": "open,closed"}))) == 4
    assert listed_ids(
        o311.get(
            "/requests.json",
            params={
                "service_request_id": f"{rubbish.number},{done.number}",
                "status": "open",
                "service_code": "C0102",
                "start_date": "2001-01-01T00:00:00Z",
                "end_date": "2001-01-02T00:00:00Z",
            },
        )
    ) == [done.number, rubbish.number]
    empties = {"service_code": "", "status": "", "start_date": "", "jurisdiction_id": ""}
    assert len(listed_ids(o311.get("/requests.json", params=empties))) == 4


def test_list_date_window(o311: httpx.Client, world: World) -> None:
    # given
    now = timezone.now().replace(microsecond=0)
    recent = make_case(world, reported_at=now - dt.timedelta(days=10))
    older = make_case(world, reported_at=now - dt.timedelta(days=100))
    oldest = make_case(world, reported_at=now - dt.timedelta(days=200))

    def w3(value: dt.datetime) -> str:
        return format_w3_datetime(value)

    # when / then: no dates → the last 90 days
    assert listed_ids(o311.get("/requests.json")) == [recent.number]
    # only a start → 90 days from it
    start_only = {"start_date": w3(now - dt.timedelta(days=150))}
    assert listed_ids(o311.get("/requests.json", params=start_only)) == [older.number]
    # only an end → 90 days up to it
    end_only = {"end_date": w3(now - dt.timedelta(days=150))}
    assert listed_ids(o311.get("/requests.json", params=end_only)) == [oldest.number]
    # both, exactly 90 days apart, in UTC
    both = {
        "start_date": (now - dt.timedelta(days=120))
        .astimezone(dt.UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now - dt.timedelta(days=30)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert listed_ids(o311.get("/requests.json", params=both)) == [older.number]
    # bounds are inclusive
    exact = {"start_date": w3(recent.reported_at), "end_date": w3(recent.reported_at)}
    assert listed_ids(o311.get("/requests.json", params=exact)) == [recent.number]


def test_list_is_capped(o311: httpx.Client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setattr(open311_selectors, "MAX_RESULTS", 2)
    numbers = [make_case(world).number for _ in range(3)]
    # when
    shown = listed_ids(o311.get("/requests.json"))
    # then
    assert shown == [numbers[2], numbers[1]]


def test_request_by_id(o311: httpx.Client, world: World) -> None:
    # given
    case = make_case(world)
    # when
    as_json = o311.get(f"/requests/{case.number}.json")
    as_xml = o311.get(f"/requests/{case.number}.xml", params={"jurisdiction_id": ""})
    # then
    assert as_json.status_code == 200
    [shown] = as_json.json()
    assert shown["service_request_id"] == case.number
    assert (shown["status"], shown["status_notes"]) == ("open", "Reported")
    assert [xml_text(r, "service_request_id") for r in xml_root(as_xml).findall("request")] == [
        case.number
    ]
    assert_errors(o311.get("/requests/209901010001.json"), 404)
    assert_errors(o311.get("/requests/not-a-number.xml"), 404, fmt="xml")


def test_status_mapping_covers_every_status() -> None:
    # then
    assert set(OPEN311_STATUS) == set(Status.values)
    assert {k for k, v in OPEN311_STATUS.items() if v == "closed"} == {
        Status.CLOSED,
        Status.EVALUATED,
        Status.CANCELLED,
    }
    assert set(OPEN311_STATUS.values()) == {"open", "closed"}


def test_closed_and_cancelled_requests(o311: httpx.Client, world: World) -> None:
    # given
    done = closed(world)
    duplicate = cancelled(
        world, CancelReason.DUPLICATE, duplicate_of=done, description="Same rubbish again"
    )
    invalid = cancelled(world, CancelReason.INVALID, description="Rude nonsense text")
    # when
    shown = {r["service_request_id"]: r for r in o311.get("/requests.json").json()}
    # then
    assert (shown[done.number]["status"], shown[done.number]["status_notes"]) == (
        "closed",
        "Check passed, closed",
    )
    assert shown[done.number]["agency_responsible"] == "clean-co"
    assert (shown[duplicate.number]["status"], shown[duplicate.number]["status_notes"]) == (
        "closed",
        "Duplicate of another case",
    )
    assert shown[duplicate.number]["description"] == "Same rubbish again"
    assert shown[invalid.number]["status_notes"] == "Invalid report"
    assert shown[invalid.number]["description"] == ""
    assert "staff only note" not in o311.get("/requests.xml", params={"extensions": "true"}).text


def test_media_url_is_the_first_report_photo_or_the_client_link(
    o311: httpx.Client, world: World, app: Client, live_server: Any
) -> None:
    # given
    with_photo = make_case(world, photos=[photo(), photo(color="blue")])
    linked = post(o311, app, fields(world, media_url="https://img.example.com/a.png")).json()[0]
    first_photo = with_photo.photos.order_by("id").first()
    assert first_photo is not None
    # when
    shown = {r["service_request_id"]: r["media_url"] for r in o311.get("/requests.json").json()}
    # then
    url = f"{live_server.url}/cases/{with_photo.number}/photos/{first_photo.pk}/"
    assert shown == {
        with_photo.number: url,
        linked["service_request_id"]: "https://img.example.com/a.png",
    }
    assert httpx.get(url).status_code == 200


# --------------------------------------------------------------------------- format rules


XML_PATHS = [
    "/discovery.xml",
    "/services.xml",
    "/services/E0101.xml",
    "/requests.xml",
    "/requests.xml?extensions=true",
    "/requests/{number}.xml",
    "/tokens/{token}.xml",
    "/services/NOPE.xml",
    "/requests.xml?status=bogus",
]


def test_every_xml_document_is_well_formed_utf8_with_one_root_and_no_namespace(
    o311: httpx.Client, world: World, subtests: pytest.Subtests
) -> None:
    # given
    case = dispatched(world, description='引号"与<尖括号> & 控制字符\x07')
    for path in XML_PATHS:
        with subtests.test(msg=path):
            # when
            response = o311.get(path.format(number=case.number, token=request_token(case)))
            # then
            assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<')
            assert response.headers["content-type"] == "text/xml; charset=utf-8"
            root = SafeET.fromstring(response.content)  # one root, or this raises
            assert "xmlns" not in response.text
            assert all("{" not in element.tag for element in root.iter())
    shown = xml_root(o311.get(f"/requests/{case.number}.xml")).find("request/description")
    assert shown is not None and shown.text == '引号"与<尖括号> & 控制字符'


def test_json_lists_are_top_level_arrays_and_ids_are_strings(
    o311: httpx.Client, world: World
) -> None:
    # given
    case = make_case(world)
    # when
    listed = o311.get("/requests.json").json()
    services = o311.get("/services.json").json()
    # then
    assert isinstance(listed, list) and isinstance(services, list)
    assert all(isinstance(x["service_code"], str) for x in services)
    assert isinstance(listed[0]["service_request_id"], str)
    assert listed[0]["service_request_id"] == case.number
    assert isinstance(listed[0]["lat"], float) and isinstance(listed[0]["long"], float)
    assert json.loads(o311.get("/requests.json").content.decode("utf-8")) == listed


def test_unknown_suffix_or_path_is_404_in_xml(o311: httpx.Client, world: World) -> None:
    # then
    for path in ("/services.html", "/requests.csv", "/services/E0101.yaml", "/nothing.xml"):
        assert_errors(o311.get(path), 404, fmt="xml")
    assert_errors(o311.get("/nothing.json"), 404)
    assert_errors(o311.delete("/requests.json"), 405)


def test_atom_feed_of_new_and_closed_requests(o311: httpx.Client, world: World) -> None:
    # given
    done = closed(world, description="Closed rubbish")
    fresh = make_case(world, description="A new <b>pile</b>")
    # when
    response = o311.get("/requests.atom")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = SafeET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    entries = root.findall("a:entry", ns)
    titles = [e.findtext("a:title", namespaces=ns) for e in entries]
    assert titles == [
        f"New: Exposed rubbish {fresh.number}",
        f"Closed: Exposed rubbish {done.number}",
        f"New: Exposed rubbish {done.number}",
    ]
    first = entries[0]
    link = first.find("a:link", ns)
    assert link is not None and link.get("href", "").endswith(f"/cases/{fresh.number}/")
    assert first.findtext("a:summary", namespaces=ns) == "A new &lt;b&gt;pile&lt;/b&gt;"
    assert W3_WITH_ZONE.match(first.findtext("a:updated", namespaces=ns) or "")


# --------------------------------------------------------------------------- extensions


def test_paging(o311: httpx.Client, world: World) -> None:
    # given
    numbers = [make_case(world).number for _ in range(5)]
    newest_first = list(reversed(numbers))
    # when / then
    page = {"page": "2", "page_size": "2"}
    assert listed_ids(o311.get("/requests.json", params=page)) == newest_first[2:4]
    assert listed_ids(o311.get("/requests.json", params={"page": "3", "page_size": "2"})) == [
        newest_first[4]
    ]
    assert listed_ids(o311.get("/requests.json", params={"page": "1"})) == newest_first
    assert listed_ids(o311.get("/requests.json", params={"page": "9"})) == []


def test_extensions_add_the_public_timeline(o311: httpx.Client, world: World) -> None:
    # given
    case = dispatched(world)
    # when
    plain = o311.get("/requests.json").json()[0]
    extended = o311.get("/requests.json", params={"extensions": "true"}).json()[0]
    by_id = o311.get(f"/requests/{case.number}.xml", params={"extensions": "true"})
    # then
    assert "notes" not in plain
    assert list(extended) == [*REQUEST_FIELDS, "notes"]
    notes = extended["notes"]
    assert [(n["action"], n["status"], n["summary"], n["agency"]) for n in notes] == [
        ("submit", "open", "Reported", ""),
        ("accept", "open", "Accepted", ""),
        ("file", "open", "Filed", ""),
        ("dispatch", "open", "Dispatched", "clean-co"),
    ]
    assert all(list(n) == ["datetime", "status", "action", "summary", "agency"] for n in notes)
    assert all(W3_WITH_ZONE.match(n["datetime"]) for n in notes)
    request = xml_root(by_id).find("request")
    assert request is not None
    assert [xml_text(n, "action") for n in request.findall("notes/note")] == [
        "submit",
        "accept",
        "file",
        "dispatch",
    ]
    for name in ("operator", "shift_leader", "dispatcher"):
        assert name not in by_id.text


def test_get_list_query_count_is_pinned(world: World, django_assert_max_num_queries: Any) -> None:
    # given
    for _ in range(12):
        dispatched(world, photos=[photo()])
    client = DjangoClient()
    # when / then
    with django_assert_max_num_queries(1):
        plain = client.get("/open311/v2/requests.json")
    with django_assert_max_num_queries(2):
        extended = client.get("/open311/v2/requests.json", {"extensions": "true"})
    assert len(plain.json()) == len(extended.json()) == 12
    assert counts()[0] == 12
