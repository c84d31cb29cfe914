"""The site's own error pages: friendly, in the reader's language, never Django's debug pages.

The test settings run with DEBUG off as the demo now does; these tests prove what a visitor
sees then, in both languages, and that ``/api/`` answers errors in JSON.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from civicgrid.cases.tests.factories import build_world

pytestmark = pytest.mark.django_db

DEBUG_PAGE_MARKERS = ("URLconf", "Traceback", "DEBUG = True", "Django tried these URL patterns")


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# The site's URLs plus a view that fails, with the site's handlers (pytest's `urls` marker).
urlpatterns = [
    path("test-boom/", _boom),
    path("api/v1/test-boom/", _boom),
    path("", include("civicgrid.config.urls")),
]
handler400 = "civicgrid.web.errors.bad_request"
handler403 = "civicgrid.web.errors.permission_denied"
handler404 = "civicgrid.web.errors.page_not_found"
handler500 = "civicgrid.web.errors.server_error"


def in_language(language: str, **kw: Any) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE=language, **kw)


def assert_friendly(response: Any, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in response.text
    assert f'data-error-status="{status}"' in response.text


def test_debug_is_off_in_the_settings_the_demo_runs_with(settings):
    assert settings.DEBUG is False


@pytest.mark.parametrize(
    ("language", "title", "home"),
    [("en", "Page not found", "Go to the home page"), ("zh-hans", "页面不存在", "回到首页")],
)
def test_an_unknown_address_gets_the_friendly_404_in_the_readers_language(language, title, home):
    # when
    response = in_language(language).get("/no/such/page/")

    # then
    assert_friendly(response, 404)
    assert title in response.text
    assert home in response.text
    assert f'<html lang="{language}">' in response.text
    assert 'href="/accounts/login/?next=/no/such/page/"' in response.text


def test_a_resident_on_the_staff_queue_gets_the_404_page_without_a_login_offer():
    # given
    world = build_world()
    client = in_language("en")
    client.force_login(world.users["resident"])

    # when
    response = client.get("/queue/")

    # then
    assert_friendly(response, 404)
    assert "Log in with another account" not in response.text
    assert "Log out" in response.text  # the site's header: the resident can still move on


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("language", "title"), [("en", "Something went wrong"), ("zh-hans", "出错了")]
)
def test_a_failing_view_gets_the_500_page_without_a_traceback(language, title):
    # given
    client = in_language(language, raise_request_exception=False)

    # when
    response = client.get("/test-boom/")

    # then
    assert_friendly(response, 500)
    assert title in response.text
    assert "a bug in a view" not in response.text
    assert "RuntimeError" not in response.text


@pytest.mark.urls(__name__)
def test_a_failing_api_call_gets_a_json_500():
    response = in_language("en", raise_request_exception=False).get("/api/v1/test-boom/")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_a_form_sent_without_its_csrf_token_gets_the_expired_form_page():
    # given a browser that enforces CSRF, as a real one does
    client = in_language("en", enforce_csrf_checks=True)

    # when
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    # then
    assert_friendly(response, 403)
    assert "The form has expired" in response.text
    assert "CSRF verification failed" not in response.text


def test_a_bad_host_header_gets_the_400_page():
    response = in_language("en").get("/", HTTP_HOST="evil.example")

    assert_friendly(response, 400)
    assert "Something in the request is wrong" in response.text


def test_an_unknown_api_address_answers_in_json():
    response = in_language("en").get("/api/v1/no-such-endpoint")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
