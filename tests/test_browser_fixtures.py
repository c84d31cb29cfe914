"""The login helpers of conftest.py, and the ORM beside Playwright's event loop."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def stand_in_login(settings: Settings) -> None:
    settings.ROOT_URLCONF = "login_urls"


def test_login_as_fills_the_login_form(
    page: Page, live_server: LiveServer, login_as, stand_in_login, assert_offline
) -> None:
    # given: a user made through the ORM while Playwright's loop is running in this thread
    get_user_model().objects.create_user(username="wang", password="s3cret-pass")

    # when
    login_as("wang", "s3cret-pass")

    # then
    assert page.url == f"{live_server.url}/whoami/"
    assert page.inner_text("body") == "wang"


def test_login_as_fails_the_test_on_a_wrong_password(
    page: Page, live_server: LiveServer, login_as, stand_in_login
) -> None:
    # given
    get_user_model().objects.create_user(username="wang", password="s3cret-pass")

    # when / then
    with pytest.raises(pytest.fail.Exception, match="Logging in as 'wang' failed"):
        login_as("wang", "wrong")


def test_force_login_and_two_users_in_separate_contexts(
    new_page, live_server: LiveServer, force_login, assert_offline
) -> None:
    # given
    user_model = get_user_model()
    admin = user_model.objects.create_superuser(username="admin", password="x-admin-pass")
    clerk = user_model.objects.create_user(username="clerk", password="x-clerk-pass")
    admin_page, clerk_page = new_page(), new_page(locale="zh-CN")

    # when
    force_login(admin, page=admin_page)
    force_login(clerk, page=clerk_page)
    admin_page.goto(f"{live_server.url}/admin/")
    clerk_page.goto(f"{live_server.url}/admin/")

    # then: the superuser sees the index; the clerk (not staff) is sent to the admin's login form
    assert admin_page.title() == "Site administration | Django site admin"
    assert clerk_page.url.startswith(f"{live_server.url}/admin/login/")
