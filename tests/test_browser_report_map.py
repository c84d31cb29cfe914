"""The report map in a real browser, at a phone size, in both languages: our own base map is
drawn with no tile server and no internet, every cell is a tap target of at least 44 px, the
chosen point is a dot that leaves its cell visible, and "use my location" works, or says why
not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases.tests.factories import LAT0, LNG0, STEP, build_world
from civicgrid.geo.basemap import basemap_import

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
CENTRE = (LAT0 + STEP * 1.5, LNG0 + STEP * 1.5)  # inside cell 005


def street_and_block() -> dict[str, Any]:
    lat, lng = CENTRE
    block = [
        [lng - 0.0005, lat - 0.0004],
        [lng + 0.0005, lat - 0.0004],
        [lng + 0.0005, lat + 0.0004],
        [lng - 0.0005, lat + 0.0004],
        [lng - 0.0005, lat - 0.0004],
    ]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kind": "street", "name": "望花路", "name_en": "Wanghua Road"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[LNG0, LAT0 + STEP], [LNG0 + 3 * STEP, LAT0 + STEP]],
                },
            },
            {
                "type": "Feature",
                "properties": {"kind": "building", "name": "3号楼", "name_en": "Block 3"},
                "geometry": {"type": "Polygon", "coordinates": [block]},
            },
            {
                "type": "Feature",
                "properties": {"kind": "landmark", "name": "小学", "name_en": "Primary School"},
                "geometry": {"type": "Point", "coordinates": [lng, lat + 0.001]},
            },
        ],
    }


@pytest.fixture
def open_report(
    new_page: Callable[..., Page], live_server: LiveServer, force_login: Callable[..., None]
) -> Callable[..., Page]:
    world = build_world()
    basemap_import(actor=None, geojson=street_and_block())

    def open_page(locale: str, **context: Any) -> Page:
        page = new_page(viewport=PHONE, locale=locale, **context)
        force_login(world.users["resident"], page=page)
        page.goto(f"{live_server.url}/report/")
        expect(page.locator("#report-map[data-ready='1']")).to_have_count(1)
        return page

    return open_page


def cell_sizes(page: Page) -> list[float]:
    return page.eval_on_selector_all(
        "#report-map .leaflet-overlay-pane path",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return Math.min(r.width, r.height); })",
    )


@pytest.mark.parametrize(("locale", "cell_word"), [("en-US", "Grid 5"), ("zh-CN", "网格5")])
def test_the_map_draws_our_base_map_with_big_cells_and_a_dot_for_the_point(
    open_report: Callable[..., Page],
    screenshot: Callable[[Page, str], Path],
    assert_offline: Any,
    locale: str,
    cell_word: str,
) -> None:
    # given
    page = open_report(locale)
    the_map = page.locator("#report-map")

    # then the base map is ours (no tile server), under the nine cells
    expect(the_map).to_have_attribute("data-basemap", "ours")
    # the road (and its casing), the block and the landmark dot
    expect(the_map.locator(".leaflet-basemap-pane path")).to_have_count(4)
    expect(the_map.locator(".leaflet-tooltip-pane .map-label-landmark")).to_be_visible()
    expect(the_map.locator(".leaflet-tooltip-pane")).to_contain_text(
        "Primary School" if locale == "en-US" else "小学"
    )
    sizes = cell_sizes(page)
    assert len(sizes) == 9 and min(sizes) >= 44
    box = the_map.bounding_box()
    assert box is not None and box["y"] < PHONE["height"]  # on the first screen

    # when the resident taps the middle of the map
    the_map.scroll_into_view_if_needed()
    the_map.click()

    # then the cell is named, and the dot is much smaller than the cell around it
    expect(page.locator("[data-map-cell]")).to_contain_text(cell_word)
    expect(page.locator("[data-map-cell]")).to_contain_text("110105001001005")
    dot = the_map.locator(
        ".leaflet-overlay-pane path.leaflet-interactive, .leaflet-marker-pane img"
    )
    expect(dot).to_have_count(0)  # no pin image, no clickable overlay
    dots = page.eval_on_selector_all(
        "#report-map .leaflet-overlay-pane path",
        "els => els.map(e => e.getBoundingClientRect().width)",
    )
    assert min(dots) <= 22 and max(dots) >= 44
    assert page.input_value("#id_lat") != ""
    screenshot(page, f"map-{locale}")


def test_use_my_location_marks_the_place(
    open_report: Callable[..., Page], assert_offline: Any
) -> None:
    # given a browser allowed to share a position inside cell 005
    lat, lng = CENTRE
    page = open_report(
        "en-US", geolocation={"latitude": lat, "longitude": lng}, permissions=["geolocation"]
    )

    # when
    page.get_by_role("button", name="Use my location").click()

    # then
    expect(page.locator("[data-map-cell]")).to_contain_text("110105001001005")
    assert abs(float(page.input_value("#id_lat")) - lat) < 1e-5
    assert abs(float(page.input_value("#id_lng")) - lng) < 1e-5


def test_use_my_location_says_why_when_the_browser_refuses(
    open_report: Callable[..., Page], assert_offline: Any
) -> None:
    # given a browser that was not allowed to share its location
    page = open_report("en-US", permissions=[])

    # when
    page.get_by_role("button", name="Use my location").click()

    # then
    expect(page.locator("[data-map-cell]")).to_contain_text("not allowed to share your location")
    assert page.input_value("#id_lat") == ""
