"""The case page asks before cancelling a case, in a real browser: "No" (or Escape) leaves the
case as it was; "Yes" cancels it. Accept and Cancel no longer look alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases.models import Case, Status
from civicgrid.cases.tests.factories import build_world, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("locale", "yes", "no"),
    [("en-US", "Yes, cancel the case", "No, go back"), ("zh-CN", "是的，作废案件", "不，返回")],
)
def test_cancelling_asks_first_and_no_changes_nothing(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    force_login: Callable[..., None],
    assert_offline: Any,
    screenshot: Callable[[Page, str], Any],
    locale: str,
    yes: str,
    no: str,
) -> None:
    # given an operator on a reported case
    world = build_world()
    case = submit(world)
    page = new_page(viewport={"width": 390, "height": 844}, locale=locale)
    force_login(world.users["operator"], page=page)
    page.goto(f"{live_server.url}/cases/{case.number}/")
    cancel = page.locator("form[data-step=cancel] button[type=submit]")
    accept = page.locator("form[data-step=accept] button[type=submit]")
    assert cancel.evaluate("b => getComputedStyle(b).color") != accept.evaluate(
        "b => getComputedStyle(b).color"
    )

    # when the operator presses cancel, a dialog asks; "No" keeps the case
    cancel.click()
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(case.number)
    expect(dialog.get_by_role("button", name=no)).to_be_focused()
    screenshot(page, f"confirm-{locale}")
    dialog.get_by_role("button", name=no).click()
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()
    # Escape does the same
    cancel.click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED

    # when the operator gives a reason and answers yes
    page.locator("form[data-step=cancel] select[name=reason]").select_option(index=1)
    page.locator("form[data-step=cancel] textarea[name=note]").fill("Test report from a drill")
    cancel.click()
    with page.expect_navigation():
        dialog.get_by_role("button", name=yes).click()

    # then the case is cancelled, once
    assert Case.objects.get(pk=case.pk).status == Status.CANCELLED
