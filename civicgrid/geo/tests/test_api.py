"""The public grid map (GET /api/v1/public/cells) over real HTTP, without login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from civicgrid.geo.models import GridCell
from civicgrid.geo.sample import rectangular_grid
from civicgrid.geo.services import cell_update, grid_import

from .factories import COMMUNITY, STEP, WEST, cell_feature, grid_3x3, with_feature

pytestmark = pytest.mark.django_db(transaction=True)

NEIGHBOUR = "420106001002"


def multipolygon(polygon: dict[str, Any]) -> dict[str, Any]:
    return {"type": "MultiPolygon", "coordinates": [polygon["coordinates"]]}


@pytest.fixture
def grid(transactional_db: None) -> dict[str, Any]:
    """The 3×3 community (cell 002 a school, cell 009 stored as a MultiPolygon) and a
    neighbouring community of two cells to its east."""
    data = grid_3x3()
    data = with_feature(data, f"{COMMUNITY}002", cell_type="school", name_en="School grid")
    nine = cell_feature(data, f"{COMMUNITY}009")
    data = with_feature(data, f"{COMMUNITY}009", geometry=multipolygon(nine["geometry"]))
    grid_import(actor=None, geojson=data)
    neighbour = rectangular_grid(
        community_code=NEIGHBOUR, rows=1, cols=2, west=WEST + 3 * STEP, cell_deg=STEP
    )
    grid_import(actor=None, geojson=neighbour)
    return data


@pytest.fixture
def public(live_server: Any, grid: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server.url}/api/v1/public", timeout=30) as client:
        yield client


def codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [f["properties"]["code"] for f in response.json()["features"]]


def test_cells_are_a_geojson_feature_collection(grid: dict[str, Any], public: httpx.Client) -> None:
    # when
    response = public.get("/cells")

    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "features", "count", "page", "page_size"}
    assert (body["type"], body["count"], body["page"], body["page_size"]) == (
        "FeatureCollection",
        11,
        1,
        500,
    )
    assert codes(response) == [f"{COMMUNITY}{n:03d}" for n in range(1, 10)] + [
        f"{NEIGHBOUR}001",
        f"{NEIGHBOUR}002",
    ]
    first, school, last = body["features"][0], body["features"][1], body["features"][8]
    assert first == {
        "type": "Feature",
        "properties": {
            "code": f"{COMMUNITY}001",
            "name": "Grid 1",
            "name_en": "Grid 1",
            "kind": "basic",
        },
        "geometry": cell_feature(grid, f"{COMMUNITY}001")["geometry"],
    }
    assert school["properties"]["kind"] == "school"
    assert school["properties"]["name_en"] == "School grid"
    assert last["geometry"]["type"] == "MultiPolygon"
    for feature in body["features"]:
        stored = GridCell.objects.get(code=feature["properties"]["code"]).geometry
        assert feature["geometry"] == stored


def test_inactive_cells_are_not_listed(grid: dict[str, Any], public: httpx.Client) -> None:
    # given
    cell = GridCell.objects.get(code=f"{COMMUNITY}005")
    cell_update(actor=None, cell=cell, name=cell.name, name_en=cell.name_en, is_active=False)

    # when
    response = public.get("/cells", params={"community": COMMUNITY})

    # then
    assert f"{COMMUNITY}005" not in codes(response)
    assert response.json()["count"] == 8


def test_the_community_filter_takes_its_cells(public: httpx.Client) -> None:
    # when
    neighbour = public.get("/cells", params={"community": NEIGHBOUR})
    own = public.get("/cells", params={"community": COMMUNITY})
    street = public.get("/cells", params={"community": COMMUNITY[:9]})
    other = public.get("/cells", params={"community": "110105001001"})

    # then
    assert codes(neighbour) == [f"{NEIGHBOUR}001", f"{NEIGHBOUR}002"]
    assert neighbour.json()["count"] == 2
    assert len(codes(own)) == 9
    assert len(codes(street)) == 11
    assert other.json() == {
        "type": "FeatureCollection",
        "features": [],
        "count": 0,
        "page": 1,
        "page_size": 500,
    }


def test_pages_of_cells(public: httpx.Client) -> None:
    # when
    pages = [public.get("/cells", params={"page": p, "page_size": 4}) for p in (1, 2, 3, 4)]

    # then
    assert [len(codes(p)) for p in pages] == [4, 4, 3, 0]
    everything = [code for p in pages for code in codes(p)]
    assert everything == sorted(everything)
    assert len(set(everything)) == 11
    assert {(p.json()["count"], p.json()["page_size"]) for p in pages} == {(11, 4)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"community": "42010600100"}, "community"),
        ({"community": "4201060010011"}, "community"),
        ({"community": "420106001001001"}, "community"),
        ({"community": "42010600100a"}, "community"),
        ({"community": "4201"}, "community"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
    ],
)
def test_bad_filters_are_400_naming_the_field(
    public: httpx.Client, params: dict[str, Any], field: str
) -> None:
    # when
    response = public.get("/cells", params=params)

    # then
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert error["message"]


def test_cells_are_two_queries_whatever_the_page(
    grid: dict[str, Any], client: Any, django_assert_num_queries: Any
) -> None:
    # when / then: the page, then the count
    with django_assert_num_queries(2):
        response = client.get("/api/v1/public/cells")
    assert len(response.json()["features"]) == 11
