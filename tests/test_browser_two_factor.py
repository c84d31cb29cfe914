"""Staff two-factor on real pages: a staff member enrols an authenticator at first login (the
secret read off the page, as a phone would scan it), then logs in again with a code."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django_otp.oath import totp
from playwright.sync_api import ConsoleMessage, Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.accounts.models import Role, User

pytestmark = pytest.mark.browser

PASSWORD = "test-pass-2468"


def phone_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for ``secret`` (base32, as on the page)."""
    return f"{totp(base64.b32decode(secret), 30, 0, 6, steps_ahead):06d}"


def submit_login(page: Page, live_server: LiveServer, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next=/report/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_staff_member_enrols_then_logs_in_with_a_code(
    page: Page, live_server: LiveServer, settings: Any, assert_offline: Any, screenshot: Any
) -> None:
    # given: two-factor required for staff; an operator who never enrolled
    settings.CIVICGRID_STAFF_2FA = "required"
    User.objects.create_user(username="olga", password=PASSWORD, role=Role.OPERATOR)
    console: list[str] = []
    page.on("console", lambda message: console.append(_text(message)))

    # when: the password, then the set-up page
    submit_login(page, live_server, "olga")

    # then: the key as text and as a QR code drawn inline
    assert page.url.startswith(f"{live_server.url}/accounts/two-factor/setup/")
    expect(page.locator("[data-qr] svg")).to_be_visible()
    assert page.locator("[data-qr] svg").bounding_box()["width"] > 100  # type: ignore[index]
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    screenshot(page, "setup")

    # when: the code the phone shows
    page.fill("input[name=code]", phone_code(secret))
    with page.expect_navigation():
        page.click("button[type=submit]")

    # then: the backup codes once, then on to the page asked for
    expect(page.locator("[data-backup-code]")).to_have_count(10)
    with page.expect_navigation():
        page.click("[data-continue]")
    assert page.url == f"{live_server.url}/report/"
    expect(page.locator("h1")).to_be_visible()

    # when: logging out and in again
    with page.expect_navigation():
        page.click("input[data-logout]")
    submit_login(page, live_server, "olga")

    # then: the code page; the next code lets her in
    assert page.url.startswith(f"{live_server.url}/accounts/two-factor/?next=")
    expect(page.locator("[data-two-factor-verify]")).to_be_visible()
    page.goto(f"{live_server.url}/report/")  # nothing else opens before the code
    assert page.url.startswith(f"{live_server.url}/accounts/two-factor/?next=")
    page.fill("input[name=code]", phone_code(secret, steps_ahead=1))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server.url}/report/"
    expect(page.locator("a.who")).to_contain_text("olga")
    assert [line for line in console if "Content Security Policy" in line] == []


def _text(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"
