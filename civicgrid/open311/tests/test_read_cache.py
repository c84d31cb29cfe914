"""The read cache of the public lists (Open311 GET requests, /api/v1/public/cases), over HTTP.

A list answer is kept until a case write commits; a write that rolls back keeps it; a cache that
is down never fails a read. The world fixture runs without a wrapping transaction, so on-commit
hooks fire as they do in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from django.db import transaction

from civicgrid.cases.models import Case
from civicgrid.cases.services import case_accept
from civicgrid.cases.tests.factories import World, submit
from civicgrid.core import readcache

from .conftest import Client, fields, post


@pytest.fixture
def read_cache(settings: Any) -> Iterator[None]:
    settings.CIVICGRID_PUBLIC_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def public_api(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server.url}/api/v1/public", timeout=30) as client:
        yield client


def _descriptions(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {r["service_request_id"]: r["description"] for r in response.json()}


def _quietly_edit(case: Case, description: str) -> None:
    """Change a row behind the services' back: no trace row, so no invalidation."""
    Case.objects.filter(pk=case.pk).update(description=description)


def test_open311_list_is_kept_until_a_case_write_commits(
    world: World, o311: httpx.Client, app: Client, read_cache: None
) -> None:
    case = submit(world, description="first words")
    assert _descriptions(o311.get("/requests.json"))[case.number] == "first words"

    _quietly_edit(case, "edited quietly")
    assert _descriptions(o311.get("/requests.json"))[case.number] == "first words"  # kept

    case_accept(actor=world.users["operator"], case=case)  # a step: the list is rebuilt
    assert _descriptions(o311.get("/requests.json"))[case.number] == "edited quietly"

    # A submission through Open311 itself shows in the next list at once.
    created = post(o311, app, fields(world, description="from the app"))
    assert created.status_code == 200, created.text
    number = created.json()[0]["service_request_id"]
    assert _descriptions(o311.get("/requests.json"))[number] == "from the app"


def test_each_format_language_and_filter_is_its_own_entry(
    world: World, o311: httpx.Client, read_cache: None
) -> None:
    case = submit(world)
    assert case.number in _descriptions(o311.get("/requests.json"))
    assert _descriptions(o311.get("/requests.json", params={"status": "closed"})) == {}
    xml = o311.get("/requests.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    chinese = o311.get("/requests.json", headers={"Accept-Language": "zh-hans"}).json()
    english = o311.get("/requests.json").json()
    assert chinese[0]["service_name"] != english[0]["service_name"]


def test_public_case_list_is_cached_and_refreshed_by_a_step(
    world: World, public_api: httpx.Client, read_cache: None
) -> None:
    case = submit(world, description="on the public list")

    def descriptions() -> dict[str, str]:
        response = public_api.get("/cases", params={"page_size": 100})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert body["count"] == len(body["items"])
        return {item["number"]: item["description"] for item in body["items"]}

    assert descriptions()[case.number] == "on the public list"
    _quietly_edit(case, "edited quietly")
    assert descriptions()[case.number] == "on the public list"
    case_accept(actor=world.users["operator"], case=case)
    assert descriptions()[case.number] == "edited quietly"


def test_a_write_that_rolls_back_keeps_the_cache(world: World, read_cache: None) -> None:
    before = readcache.version(readcache.CASES)
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(world)
        raise RuntimeError("roll back")
    assert readcache.version(readcache.CASES) == before
    submit(world)
    assert readcache.version(readcache.CASES) == before + 1


def test_without_the_cache_every_read_is_fresh(
    world: World, o311: httpx.Client, settings: Any
) -> None:
    settings.CIVICGRID_PUBLIC_CACHE_SECONDS = 0
    case = submit(world, description="first words")
    assert _descriptions(o311.get("/requests.json"))[case.number] == "first words"
    _quietly_edit(case, "edited quietly")
    assert _descriptions(o311.get("/requests.json"))[case.number] == "edited quietly"


def test_a_cache_that_is_down_never_fails_a_read(
    world: World, o311: httpx.Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CIVICGRID_PUBLIC_CACHE_SECONDS = 60
    # A Redis cache on a loopback port nothing listens on.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    case = submit(world, description="still listed")  # its invalidation fails, and is logged
    assert _descriptions(o311.get("/requests.json"))[case.number] == "still listed"
    assert "Read cache unavailable" in caplog.text
    assert "Could not bump" in caplog.text
