"""On real pages: an administrator issues an Open311 API key, sees it once and revokes it; a
resident answers a category's questions on the report form, fixes a missing required answer,
and finds the answers on the case page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.accounts.models import ClientKey, Organization, OrganizationKind
from civicgrid.accounts.services import client_key_authenticate, token_hash
from civicgrid.cases.models import Case
from civicgrid.cases.tests.factories import PASSWORD, build_world
from civicgrid.web.tests.test_report_questions import add_question_categories

pytestmark = pytest.mark.browser


def test_an_administrator_issues_a_key_sees_it_once_and_revokes_it(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
) -> None:
    # given a client organization
    build_world()
    Organization.objects.create(kind=OrganizationKind.CLIENT, code="city-app", name="市民App")
    login_as("admin", PASSWORD)

    # when the administrator issues a key from the page the navigation leads to
    with page.expect_navigation():
        page.locator("nav.nav a", has_text="Open311 API keys").click()
    page.select_option("select[name=organization]", "city-app")
    page.fill("input[name=name]", "iOS app")
    page.fill("input[name=rate_per_minute]", "30")
    with page.expect_navigation():
        page.locator("form.key-form button[type=submit]").click()

    # then the raw key is shown with a ready example, and it works
    raw = page.locator("[data-raw-key]").inner_text().strip()
    key = ClientKey.objects.get()
    assert key.key_hash == token_hash(raw)
    assert (key.name, key.rate_per_minute) == ("iOS app", 30)
    expect(page.locator("[data-new-key]")).to_contain_text("will not be shown again")
    expect(page.locator("[data-curl]")).to_contain_text(f"curl -d api_key={raw} ")
    expect(page.locator("[data-curl]")).to_contain_text("/open311/v2/requests.json")

    # when the page is opened again
    page.goto(f"{live_server.url}/keys/")

    # then the key is listed by its prefix only
    expect(page.locator("[data-raw-key]")).to_have_count(0)
    row = page.locator(f"tr[data-key-id='{key.pk}']")
    expect(row).to_contain_text(f"{key.prefix}…")
    assert raw not in page.content()

    # when the administrator revokes it, confirming on the next page
    with page.expect_navigation():
        row.locator("a", has_text="Revoke").click()
    expect(page.locator("h1")).to_have_text("Revoke an API key")
    with page.expect_navigation():
        page.locator("form.revoke-form button[type=submit]").click()

    # then
    expect(page.locator(".messages")).to_contain_text(f"API key {key.prefix}… (iOS app) is revoked")
    expect(page.locator(f"tr[data-key-id='{key.pk}'] [data-key-status]")).to_have_attribute(
        "data-key-status", "revoked"
    )
    assert client_key_authenticate(raw_key=raw) is None


def test_a_resident_answers_the_category_questions(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
) -> None:
    # given household noise asks when (required, several choices) and since when
    world = build_world()
    add_question_categories(world)
    login_as("resident", PASSWORD)
    page.goto(f"{live_server.url}/report/")
    expect(page.locator("[data-question]")).to_have_count(0)

    # when the resident picks the category
    page.select_option("select[name=category]", "G0501")

    # then its questions appear
    periods = page.locator("[data-question=periods]")
    expect(periods).to_contain_text("When does the noise usually happen? (required)")
    expect(periods.locator("input[type=checkbox]")).to_have_count(4)
    started = page.locator("input[name='attribute[started_at]']")
    expect(started).to_have_attribute("type", "datetime-local")

    # when the resident sends the report without the required answer
    page.fill("textarea[name=description]", "Drilling upstairs every night.")
    expect(page.locator("#report-map[data-ready='1']")).to_have_count(1)
    page.locator("#report-map").click()
    expect(page.locator("[data-map-cell]")).to_contain_text("110105001001005")
    started.fill("2026-11-28T22:30")
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()

    # then the error is next to the question and nothing is saved
    expect(page.locator("[data-question=periods] .error")).to_have_text(
        "Answer periods (When does the noise usually happen?): it is required for this category."
    )
    assert Case.objects.count() == 0
    expect(page.locator("input[name='attribute[started_at]']")).to_have_value("2026-11-28T22:30")

    # when the resident ticks two periods and sends again
    page.get_by_label("Evening (18-22)").check()
    page.get_by_label("Late night (after 22)").check()
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()

    # then the case page shows the answers
    assert re.search(r"/cases/\d{12}/$", page.url), page.url
    answers = page.locator("dl.answers")
    expect(answers).to_contain_text("When does the noise usually happen?")
    expect(answers).to_contain_text("Evening (18-22), Late night (after 22)")
    expect(answers).to_contain_text("2026-11-28 22:30")
    case = Case.objects.get()
    assert case.attributes == {
        "periods": ["evening", "night"],
        "started_at": "2026-11-28T22:30:00+08:00",
    }
