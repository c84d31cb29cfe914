"""What must never leave through Open311: the reporter's name, email, phone and account or
device id; exact points of anonymous reports; anything of a non-public category."""

from __future__ import annotations

import httpx
import pytest

from civicgrid.cases.models import Case
from civicgrid.cases.tests.factories import World, submit

from .conftest import Client, assert_errors, counts, fields, post

pytestmark = pytest.mark.django_db(transaction=True)

PERSONAL = {
    "first_name": "Xiuying",
    "last_name": "Zhangsun",
    "email": "xiuying.private@example.org",
    "phone": "13987654321",
    "account_id": "acct-secret-991",
}


def every_output(o311: httpx.Client, number: str) -> dict[str, str]:
    """Every document that shows the request, in every format, with and without extensions."""
    paths = [
        "/requests.xml",
        "/requests.json",
        "/requests.xml?extensions=true",
        "/requests.json?extensions=true",
        f"/requests/{number}.xml",
        f"/requests/{number}.json",
        f"/requests/{number}.json?extensions=true",
        "/requests.atom",
    ]
    outputs = {}
    for path in paths:
        response = o311.get(path)
        assert response.status_code == 200, (path, response.text)
        outputs[path] = response.text
    return outputs


def test_personal_fields_never_leave(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    body = fields(world, device_id="device-secret-552", **PERSONAL)
    created = post(o311, app, body)
    created_xml = post(o311, app, body, fmt="xml")
    assert created.status_code == created_xml.status_code == 200
    case = Case.objects.get(number=created.json()[0]["service_request_id"])
    assert case.reporter_name == "Xiuying Zhangsun"  # kept for staff
    # when
    outputs = every_output(o311, case.number)
    outputs["POST json"] = created.text
    outputs["POST xml"] = created_xml.text
    # then
    secrets = [*PERSONAL.values(), "device-secret-552", "Xiuying", "Zhangsun", "13987654321"]
    for name, text in outputs.items():
        assert "<service_request_id>" in text or case.number in text, name
        for secret in secrets:
            assert secret not in text, (name, secret)


def test_named_site_report_keeps_the_name_inside(o311: httpx.Client, world: World) -> None:
    # given
    case = submit(world, reporter_name="Wang Fang", reporter_phone="13711112222")
    # when
    outputs = every_output(o311, case.number)
    # then
    for name, text in outputs.items():
        for secret in ("Wang Fang", "13711112222", "resident", "13800138000"):
            assert secret not in text, (name, secret)


def test_anonymous_coordinates_are_rounded(o311: httpx.Client, world: World, app: Client) -> None:
    # given
    lat, lng = 39.9245678, 116.4545678
    anonymous = post(o311, app, fields(world, lat=str(lat), long=str(lng))).json()[0]
    named = post(o311, app, fields(world, lat=str(lat), long=str(lng), first_name="Ming")).json()[0]
    # when
    shown = {r["service_request_id"]: r for r in o311.get("/requests.json").json()}
    xml = o311.get(f"/requests/{anonymous['service_request_id']}.xml").text
    # then
    assert (
        shown[anonymous["service_request_id"]]["lat"],
        shown[anonymous["service_request_id"]]["long"],
    ) == (39.925, 116.455)
    assert (
        shown[named["service_request_id"]]["lat"],
        shown[named["service_request_id"]]["long"],
    ) == (
        39.92457,
        116.45457,
    )
    assert "<lat>39.925</lat><long>116.455</long>" in xml
    assert "39.92456" not in xml and "39.9245678" not in xml
    assert Case.objects.get(number=anonymous["service_request_id"]).lat == lat  # staff keep it


def test_non_public_category_is_neither_listed_nor_accepted_nor_shown(
    o311: httpx.Client, world: World, app: Client
) -> None:
    # given
    hidden = submit(world, category=world.categories["manhole"], description="Hidden manhole")
    world.categories["manhole"].is_public = False
    world.categories["manhole"].save()
    before = counts()
    # when
    services = o311.get("/services.json").json()
    refused = post(o311, app, fields(world, service_code="C0101"))
    listed = o311.get("/requests.json").json()
    by_code = o311.get("/requests.json", params={"service_code": "C0101"}).json()
    by_id = o311.get(f"/requests/{hidden.number}.json")
    by_id_filter = o311.get("/requests.json", params={"service_request_id": hidden.number})
    feed = o311.get("/requests.atom").text
    # then
    assert "C0101" not in [s["service_code"] for s in services]
    assert_errors(refused, 400, contains="service_code")
    assert counts() == before
    assert listed == by_code == by_id_filter.json() == []
    assert_errors(by_id, 404)
    assert assert_errors(o311.get("/services/C0101.json"), 404)
    assert hidden.number not in feed and "Hidden manhole" not in feed
