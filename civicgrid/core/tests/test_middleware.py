from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_sane_request_id_is_echoed():
    response = Client().get("/admin/login/", headers={"X-Request-ID": "edge-proxy.42_abc"})

    assert response.status_code == 200
    assert response["X-Request-ID"] == "edge-proxy.42_abc"


@pytest.mark.parametrize("incoming", [None, "short", "has space in it", "x" * 65, "<script>1234"])
def test_a_missing_or_unsafe_request_id_is_replaced(incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}

    response = Client().get("/admin/login/", headers=headers)

    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_request_gets_its_own_id():
    client = Client()

    first = client.get("/admin/login/")["X-Request-ID"]
    second = client.get("/admin/login/")["X-Request-ID"]

    assert first != second
