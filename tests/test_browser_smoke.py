"""The browser test machinery: Chromium starts, talks only to the live server, takes screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.browser


def test_admin_login_page_renders_offline(
    page: Page, live_server: LiveServer, assert_offline, screenshot
) -> None:
    # given
    url = f"{live_server.url}/admin/login/"

    # when
    response = page.goto(url)
    shot = screenshot(page, "admin-login")

    # then
    assert response is not None
    assert response.status == 200
    assert page.title() == "Log in | Django site admin"
    assert page.locator("input[name=username]").count() == 1
    assert shot.name == "test_admin_login_page_renders_offline-admin-login.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert assert_offline.urls[0] == url
    assert assert_offline.offline_violations() == []


def test_static_files_are_served_by_the_live_server(page: Page, live_server: LiveServer) -> None:
    # given
    url = f"{live_server.url}/static/admin/css/base.css"

    # when
    response = page.goto(url)

    # then
    assert response is not None
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/css")


def test_requests_to_other_hosts_are_blocked_and_reported(page: Page, request_log) -> None:
    # given
    remote = "http://example.invalid/tracker.js"

    # when
    with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
        page.goto(remote)

    # then: the request was aborted before any lookup, and assert_offline would fail on it
    assert request_log.blocked == [remote]
    assert request_log.offline_violations() == [remote, remote]


@pytest.mark.browser_context(locale="zh-CN")
def test_context_locale_can_be_chosen_per_test(page: Page, live_server: LiveServer) -> None:
    # given
    captured: list[str] = []
    page.on("request", lambda request: captured.append(request.headers["accept-language"]))

    # when
    page.goto(f"{live_server.url}/admin/login/")

    # then
    assert page.evaluate("navigator.language") == "zh-CN"
    assert captured[0].startswith("zh-CN")
