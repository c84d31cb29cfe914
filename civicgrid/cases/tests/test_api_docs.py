"""The API's Swagger page works in a real browser without the internet."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_page_renders_offline_for_a_logged_in_user(
    page: Any, live_server: Any, assert_offline: Any, force_login: Any, django_user_model: Any
) -> None:
    # given an anonymous visitor is sent to the login page, and comes back once logged in
    page.goto(f"{live_server.url}/api/v1/docs")
    assert page.url == f"{live_server.url}/accounts/login/?next=/api/v1/docs"
    force_login(django_user_model.objects.create_user("reader", password="x-pass-123"))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    # when
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector('[data-path="/api/v1/cases/{number}/process"]')

    # then
    assert "civicgrid API" in page.inner_text(".swagger-ui .info .title")
    assert console_errors == []
