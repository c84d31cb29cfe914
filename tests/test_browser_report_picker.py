"""The report page in a real browser, at a phone size and a desktop size, in English and
Chinese: the map comes first on a phone, the category picker searches both languages and
groups its results, a common problem's button sets the real field and loads its questions, a
report sent through the picker creates exactly one case, and a refused report lists every
error at once with focus on the summary."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases.categories import load_default_categories
from civicgrid.cases.models import Case
from civicgrid.cases.tests.factories import PASSWORD, build_world

pytestmark = pytest.mark.browser

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SIZES = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]
LOCALES = [pytest.param("en-US", id="en"), pytest.param("zh-CN", id="zh")]
# What the page shows in each language (names from the category tree and the data file only:
# the tests run without this change's new translations compiled).
WORDS = {
    "en-US": {
        "query": "light",
        "group": "Public utilities",
        "leaf": "Street light",
        "button": "Street light broken",
        "question": "What is the light doing?",
    },
    "zh-CN": {
        "query": "路灯",
        "group": "公用设施",
        "leaf": "路灯",
        "button": "路灯不亮",
        "question": "路灯现在是什么情况？",
    },
}


@pytest.fixture
def report_page(
    new_page: Callable[..., Page], live_server: LiveServer, login_as: Callable[..., None]
) -> Callable[..., Page]:
    """A resident on /report/ with the packaged category tree, at a size and in a language."""
    build_world()
    load_default_categories()

    def open_page(viewport: dict[str, int], locale: str) -> Page:
        page = new_page(viewport=viewport, locale=locale)
        errors: list[str] = []

        def on_console(message: Any) -> None:
            # A refused report comes back as the page with status 400, which Chromium logs as
            # a failed load of the page itself: that is the answer the test asks for.
            refused_page = message.text.startswith(
                "Failed to load resource"
            ) and message.location.get("url", "").endswith("/report/")
            if message.type == "error" and not refused_page:
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.console_errors = errors  # type: ignore[attr-defined]  # read by the tests
        login_as("resident", PASSWORD, page=page)
        page.goto(f"{live_server.url}/report/")
        expect(page.locator("[data-picker]")).to_be_visible()
        return page

    return open_page


def _click_map_centre(page: Page) -> None:
    expect(page.locator("#report-map[data-ready='1']")).to_have_count(1)
    page.locator("#report-map").scroll_into_view_if_needed()
    page.locator("#report-map").click()  # the map fits the 3×3 grid: its centre is cell 005
    expect(page.locator("[data-map-cell]")).to_contain_text("110105001001005")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", SIZES)
def test_the_map_comes_first_on_a_phone_and_beside_the_form_on_a_desktop(
    report_page: Callable[..., Page],
    viewport: dict[str, int],
    locale: str,
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # when
    page = report_page(viewport, locale)

    # then
    map_box = page.locator("#report-map").bounding_box()
    picker_box = page.locator("[data-picker]").bounding_box()
    details_box = page.locator("#id_description").bounding_box()
    assert map_box is not None and picker_box is not None and details_box is not None
    if viewport is PHONE:
        assert map_box["y"] + map_box["height"] <= picker_box["y"]
        assert map_box["y"] < 844  # the map starts on the first screen
        assert picker_box["y"] < details_box["y"]
    else:
        assert map_box["x"] + map_box["width"] <= picker_box["x"]  # two columns
        assert picker_box["y"] < details_box["y"]
    assert page.locator(".step-no").all_inner_texts() == ["1", "2", "3"]
    # the real field is still there, out of sight and out of the tab order
    expect(page.locator("select[name=category]")).to_have_attribute("tabindex", "-1")
    buttons = page.locator("button.problem")
    expect(buttons).to_have_count(12)
    box = buttons.first.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    shot = screenshot(page, f"report-{'phone' if viewport is PHONE else 'desktop'}-{locale}")
    if os.environ.get("CIVICGRID_UPDATE_SCREENSHOTS") and viewport is PHONE and locale == "zh-CN":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / "report-mobile-zh.png")
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", SIZES)
def test_searching_shows_the_street_light_categories_grouped(
    report_page: Callable[..., Page],
    viewport: dict[str, int],
    locale: str,
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    page = report_page(viewport, locale)
    words = WORDS[locale]

    # when
    page.locator("#category-search").fill(words["query"])

    # then
    results = page.locator("#category-results")
    group = results.locator(
        ".picker-group", has=page.locator(".picker-group-title", has_text=words["group"])
    )
    expect(group).to_have_count(1)
    expect(
        group.locator("button", has_text=re.compile(rf"^{re.escape(words['leaf'])}(\s|$)"))
    ).to_have_count(1)
    expect(page.locator("#category-search-count")).not_to_be_empty()
    codes = results.locator("button[data-code]").evaluate_all("els => els.map(e => e.dataset.code)")
    assert "C0118" in codes
    assert "C0106" in codes  # the street-light manhole cover, under the same parent
    assert all(not code.startswith("H99") for code in codes)
    screenshot(page, f"search-{locale}")

    # when: the other language's word finds the same leaf
    other = "路灯" if locale == "en-US" else "street light"
    page.locator("#category-search").fill(other)
    expect(results.locator("button[data-code=C0118]")).to_have_count(1)

    # when: the keyboard picks a result
    page.locator("#category-search").press("ArrowDown")
    first = results.locator("button[data-code]").first
    expect(first).to_be_focused()
    code = first.get_attribute("data-code")
    page.keyboard.press("Enter")

    # then
    expect(page.locator("select[name=category]")).to_have_value(code or "")
    expect(page.locator("[data-chosen]")).to_be_visible()
    expect(page.locator("[data-chosen-text]")).to_be_focused()
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", SIZES)
def test_a_common_problem_button_sets_the_field_and_loads_its_questions(
    report_page: Callable[..., Page],
    viewport: dict[str, int],
    locale: str,
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    page = report_page(viewport, locale)
    words = WORDS[locale]
    expect(page.locator("[data-question]")).to_have_count(0)

    # when
    page.locator("button.problem", has_text=words["button"]).click()

    # then
    expect(page.locator("select[name=category]")).to_have_value("C0118")
    expect(page.locator("[data-chosen-name]")).to_have_text(words["button"])
    expect(page.locator("[data-chosen-group]")).to_contain_text(words["group"])
    expect(page.locator("[data-question=light_state]")).to_contain_text(words["question"])
    expect(page.locator("[data-choose]")).to_be_hidden()
    screenshot(page, f"chosen-{locale}")

    # when: "change" opens the picker again, with the choice still marked
    page.locator("[data-change]").click()

    # then
    expect(page.locator("#category-search")).to_be_focused()
    expect(page.locator("button.problem[data-code=C0118]")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", SIZES)
def test_a_report_sent_through_the_picker_creates_exactly_one_case(
    report_page: Callable[..., Page],
    viewport: dict[str, int],
    locale: str,
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    page = report_page(viewport, locale)

    # when: where, what (through the search), details
    _click_map_centre(page)
    page.locator("#category-search").fill("垃圾" if locale == "zh-CN" else "rubbish not collected")
    page.locator("#category-results button[data-code=G0602]").click()
    page.fill("textarea[name=description]", "东门垃圾三天没人收。")
    screenshot(page, f"filled-{locale}")
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()

    # then
    match = re.search(r"/cases/(\d{12})/$", page.url)
    assert match is not None, page.url
    case = Case.objects.get()
    assert case.number == match.group(1)
    assert case.category.code == "G0602"
    assert case.cell is not None and case.cell.code == "110105001001005"
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", SIZES)
def test_a_refused_report_shows_every_error_at_once_and_keeps_the_choice(
    report_page: Callable[..., Page],
    viewport: dict[str, int],
    locale: str,
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    page = report_page(viewport, locale)

    # when: nothing filled in
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()

    # then: the summary has focus and lists the three errors, each next to its field
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("a")).to_have_count(3)
    expect(page.locator("#where #id_location_error")).to_be_visible()
    expect(page.locator("#category-picker #id_category_error")).to_be_visible()
    expect(page.locator("#id_description_error")).to_be_visible()
    expect(page.locator("#category-search")).to_have_attribute("aria-invalid", "true")
    screenshot(page, f"errors-{'phone' if viewport is PHONE else 'desktop'}-{locale}")

    # when: the category link is followed, focus goes to the picker the user sees
    summary.locator("a[href='#id_category']").click()
    expect(page.locator("button.problem").first).to_be_focused()

    # when: a common problem is chosen and the description given, but no place
    page.locator("button.problem[data-code=G0501]").click()
    expect(page.locator("[data-question=periods]")).to_be_visible()
    page.locator("[data-question=periods] input[value=night]").check()
    page.fill("textarea[name=description]", "楼上每天深夜装修")
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()

    # then: only the place is missing, and what was chosen and typed is still there
    expect(summary.locator("a")).to_have_count(1)
    expect(page.locator("#where #id_location_error")).to_be_visible()
    expect(page.locator("select[name=category]")).to_have_value("G0501")
    expect(page.locator("[data-chosen]")).to_be_visible()
    expect(page.locator("[data-question=periods] input[value=night]")).to_be_checked()
    expect(page.locator("textarea[name=description]")).to_have_value("楼上每天深夜装修")
    summary.locator("a[href='#where']").click()
    assert page.evaluate("document.activeElement.closest('#where') !== null")
    assert Case.objects.count() == 0
    assert page.console_errors == []  # type: ignore[attr-defined]
