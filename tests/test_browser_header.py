"""The site header in a real browser: two rows at most on a phone (one on a desktop), in both
languages, for the roles with the most links; every control at least 44 px tall; nothing wider
than a 320 px screen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases.tests.factories import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTROLS = ".site-header .hlink"


def rows(page: Page, selector: str) -> int:
    """How many distinct lines the visible elements matching ``selector`` sit on."""
    tops = page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.getClientRects().length)"
        ".map(e => Math.round(e.getBoundingClientRect().top))",
    )
    lines: list[int] = []
    for top in sorted(tops):
        if not lines or top - lines[-1] > 8:
            lines.append(top)
    return len(lines)


@pytest.mark.parametrize("username", ["resident", "operator", "admin"])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize(
    ("width", "height", "max_rows"), [(320, 640, 2), (390, 844, 2), (1280, 800, 1)]
)
def test_the_header_fits_in_two_rows_on_a_phone_and_one_on_a_desktop(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    force_login: Callable[..., None],
    screenshot: Callable[[Page, str], Path],
    assert_offline: Any,
    username: str,
    locale: str,
    width: int,
    height: int,
    max_rows: int,
) -> None:
    # given
    world = build_world()
    page = new_page(viewport={"width": width, "height": height}, locale=locale)
    force_login(world.users[username], page=page)

    # when
    page.goto(f"{live_server.url}/public/cases/")

    # then
    header = page.locator(".site-header").inner_text()
    assert "{#" not in header and "{%" not in header
    brand = page.locator(".site-header .brand").bounding_box()
    tools = page.locator(".site-header .tools").bounding_box()
    assert brand and tools and brand["x"] + brand["width"] <= tools["x"] + 1  # no overlap
    assert rows(page, f"{CONTROLS}, .site-header .brand") <= max_rows
    heights = page.eval_on_selector_all(
        CONTROLS,
        "els => els.filter(e => e.getClientRects().length)"
        ".map(e => e.getBoundingClientRect().height)",
    )
    assert heights and min(heights) >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    current = page.locator(".site-header .nav .hlink.current")
    assert current.count() == 1 and current.get_attribute("aria-current") == "page"
    if width <= 390 and username == "admin":
        screenshot(page, f"header-{width}-{locale}")
