"""Fixtures of the Open311 tests: the test world with category questions, a client key, an
httpx client on the live server's /open311/v2/, and helpers to post and to parse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml import ElementTree as SafeET
from django.core.cache import cache

from civicgrid.accounts.models import ClientKey, Organization, OrganizationKind
from civicgrid.accounts.services import client_key_issue
from civicgrid.cases.attributes import parse_attribute_definitions
from civicgrid.cases.models import Case
from civicgrid.cases.tests.factories import World, build_world
from civicgrid.core.models import AuditRecord

GARBAGE_QUESTIONS = [
    {
        "code": "notice",
        "datatype": "string",
        "variable": False,
        "description": "请勿填写个人信息",
        "description_en": "Do not enter personal data",
    },
    {
        "code": "bin_state",
        "datatype": "singlevaluelist",
        "description": "垃圾桶状态",
        "description_en": "State of the bin",
        "datatype_description": "选一项",
        "datatype_description_en": "Pick one",
        "values": [
            {"key": "full", "name": "已满", "name_en": "Full"},
            {"key": "overflowing", "name": "溢出", "name_en": "Overflowing"},
        ],
    },
    {
        "code": "kinds",
        "datatype": "multivaluelist",
        "description": "垃圾种类",
        "description_en": "Kinds of rubbish",
        "values": [
            {"key": "household", "name": "生活垃圾", "name_en": "Household"},
            {"key": "construction", "name": "建筑垃圾", "name_en": "Construction"},
            {"key": "bulky", "name": "大件垃圾", "name_en": "Bulky"},
        ],
    },
    {
        "code": "volume",
        "datatype": "number",
        "description": "体积（立方米）",
        "description_en": "Volume (cubic metres)",
    },
]
LIGHT_QUESTIONS = [
    {
        "code": "pole_number",
        "datatype": "string",
        "required": True,
        "description": "灯杆编号",
        "description_en": "Pole number",
    }
]


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the cache, keyed by key id; no test inherits another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(transactional_db: None) -> World:
    """The shared test world; rubbish (E0101) and street light (C0102) ask questions."""
    w = build_world()
    for name, raw in (("garbage", GARBAGE_QUESTIONS), ("light", LIGHT_QUESTIONS)):
        definitions, problems = parse_attribute_definitions(raw, name)
        assert problems == []
        category = w.categories[name]
        category.attributes = definitions
        category.save()
    return w


@dataclass
class Client:
    """An app holding an Open311 key."""

    key: ClientKey
    raw: str


def issue_key(name: str = "app", rate_per_minute: int = 60) -> Client:
    org = Organization.objects.filter(code=name).first() or Organization.objects.create(
        kind=OrganizationKind.CLIENT, code=name, name=name.upper()
    )
    key, raw = client_key_issue(
        actor=None, organization=org, name=f"{name} key", rate_per_minute=rate_per_minute
    )
    return Client(key=key, raw=raw)


@pytest.fixture
def app(world: World) -> Client:
    return issue_key()


@pytest.fixture
def o311(live_server: Any) -> Iterator[httpx.Client]:
    """An httpx client on the endpoint (…/open311/v2), English unless a test says otherwise."""
    with httpx.Client(
        base_url=f"{live_server.url}/open311/v2",
        headers={"Accept-Language": "en"},
        timeout=30,
    ) as client:
        yield client


def fields(world: World, **overrides: Any) -> dict[str, Any]:
    """A valid new request for E0101 at a point inside the grid."""
    body: dict[str, Any] = {
        "service_code": "E0101",
        "lat": str(world.inside_lat),
        "long": str(world.inside_lng),
        "description": "Rubbish piled at the gate <3",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post(
    client: httpx.Client,
    app: Client | None,
    body: dict[str, Any],
    *,
    fmt: str = "json",
    headers: dict[str, str] | None = None,
    key_in: str = "body",
) -> httpx.Response:
    """POST requests.{fmt} form-encoded (list values repeat the field), with the app's api_key
    in the body or the query."""
    query: dict[str, str] = {}
    data = dict(body)
    if app is not None:
        if key_in == "query":
            query["api_key"] = app.raw
        else:
            data["api_key"] = app.raw
    return client.post(f"/requests.{fmt}", params=query, data=data, headers=headers or {})


def xml_root(response: httpx.Response) -> Element:
    """The document's root, parsed safely; checks the declaration and the content type."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8", response.text
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root: Element = SafeET.fromstring(response.content)
    return root


def xml_text(element: Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, path
    return found.text or ""


def counts() -> tuple[int, int]:
    """(cases, audit records): a refused request changes neither."""
    return Case.objects.count(), AuditRecord.objects.count()


def assert_errors(
    response: httpx.Response, status: int, *, fmt: str = "json", contains: str = ""
) -> list[str]:
    """The standard's error list with ``status`` as every entry's code; returns descriptions."""
    assert response.status_code == status, response.text
    if fmt == "json":
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert isinstance(body, list) and body
        assert all(set(e) == {"code", "description"} for e in body)
        assert all(e["code"] == status for e in body)
        descriptions = [e["description"] for e in body]
    else:
        root = xml_root(response)
        assert root.tag == "errors"
        errors = root.findall("error")
        assert errors
        assert [xml_text(e, "code") for e in errors] == [str(status)] * len(errors)
        assert all([child.tag for child in e] == ["code", "description"] for e in errors)
        descriptions = [xml_text(e, "description") for e in errors]
    assert all(descriptions)
    if contains:
        assert any(contains in d for d in descriptions), descriptions
    return descriptions
