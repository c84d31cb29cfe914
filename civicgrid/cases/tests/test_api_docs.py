"""The API's Swagger page works in a real browser without the internet."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_page_renders_offline(page: Any, live_server: Any, assert_offline: Any) -> None:
    # given
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    # when
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector('[data-path="/api/v1/cases/{number}/process"]')

    # then
    assert "civicgrid API" in page.inner_text(".swagger-ui .info .title")
    assert console_errors == []
