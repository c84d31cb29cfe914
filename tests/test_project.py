"""Project-wide checks that need no app: settings load, system checks pass, admin answers."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client


def test_system_checks_pass() -> None:
    # when / then: raises SystemCheckError on any error
    call_command("check", fail_level="ERROR")


@pytest.mark.django_db
def test_admin_login_page_answers(client: Client) -> None:
    # when
    response = client.get("/admin/login/")

    # then
    assert response.status_code == 200
    assert response["X-Request-ID"] != ""
