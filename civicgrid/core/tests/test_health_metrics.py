"""`/healthz`, `/readyz` and `/metrics` through Django's request handler and middleware.

This module is its own URLconf: the operations URLs first, then the site's, as
``civicgrid.config.urls`` includes them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from civicgrid.cases.models import OPEN_STATUSES, Case, Light
from civicgrid.cases.selectors import light_q
from civicgrid.cases.tests.factories import build_world, submit
from civicgrid.core.logging import JsonFormatter
from civicgrid.core.metrics import register_gauge, unregister_gauge
from civicgrid.core.services import audit_record, audit_seal
from civicgrid.core.tasks import seal_audit_task

urlpatterns = [
    path("", include("civicgrid.core.urls")),
    path("", include("civicgrid.config.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

METRICS_MIDDLEWARE = "civicgrid.core.metrics.RequestMetricsMiddleware"
TOKEN = "scrape-token-0123456789"
LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _wiring(settings: Any, tmp_path: Path) -> None:
    # The metrics middleware first, as the settings list it (added here while they do not yet).
    if METRICS_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [METRICS_MIDDLEWARE, *settings.MIDDLEWARE]
    settings.CIVICGRID_METRICS_TOKEN = ""
    # The test client comes from 127.0.0.1; an install opens /metrics to it the same way.
    settings.CIVICGRID_METRICS_ALLOWED_NETWORKS = LOOPBACK
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


@pytest.fixture
def log_lines() -> Iterator[StringIO]:
    """The JSON lines the configured console handler would write, from here on."""
    console = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)
    )
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


def scrape(client: Client, **extra: Any) -> dict[str, float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200
    return parse_exposition(response.content.decode())


def parse_exposition(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


# --------------------------------------------------------------------------- health


def test_healthz_answers_ok_without_the_database(client, django_assert_num_queries):
    # when
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert response.cookies == {}
    assert response["X-Request-ID"]


def test_healthz_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_healthz_needs_no_csrf_token_or_session():
    # given a client that enforces CSRF like a browser
    strict = Client(enforce_csrf_checks=True)

    # when
    response = strict.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.cookies == {}


def test_readyz_reports_every_check(client):
    # when
    response = client.get("/readyz")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"ok": True},
            "migrations": {"ok": True},
            "tasks": {"ok": True, "ready": 0},
            "media": {"ok": True},
        },
    }
    assert "no-store" in response["Cache-Control"]


def test_readyz_counts_the_tasks_waiting_in_the_queue(client, settings):
    # given two tasks queued in the database backend
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    seal_audit_task.enqueue()
    seal_audit_task.enqueue()

    # when
    response = client.get("/readyz")

    # then
    assert response.json()["checks"]["tasks"] == {"ok": True, "ready": 2}


def test_readyz_fails_naming_an_unwritable_media_directory(client, settings, tmp_path):
    # given
    settings.MEDIA_ROOT = tmp_path / "not-mounted"

    # when
    response = client.get("/readyz")

    # then
    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "failed": ["media"],
        "checks": {
            "database": {"ok": True},
            "migrations": {"ok": True},
            "tasks": {"ok": True, "ready": 0},
            "media": {"ok": False, "error": "FileNotFoundError"},
        },
    }


def test_readyz_fails_while_a_migration_is_not_applied(client):
    # given the latest core migration not recorded as applied
    latest = max(
        n for app, n in MigrationRecorder(connection).applied_migrations() if app == "core"
    )
    MigrationRecorder.Migration.objects.filter(app="core", name=latest).delete()

    # when
    response = client.get("/readyz")

    # then
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == {"ok": False, "pending": 1}


def test_readyz_leaves_no_probe_file_behind(client, settings):
    client.get("/readyz")
    assert list(Path(settings.MEDIA_ROOT).iterdir()) == []


# --------------------------------------------------------------------------- metrics access


@pytest.mark.parametrize(
    ("token", "networks", "extra"),
    [
        pytest.param("", [], {}, id="default-nobody-not-even-loopback"),
        pytest.param("", [], {"REMOTE_ADDR": "::1"}, id="default-nobody-v6"),
        pytest.param("", LOOPBACK, {"REMOTE_ADDR": "10.1.2.3"}, id="outside-the-networks"),
        pytest.param(
            "", LOOPBACK, {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, id="allowed-via-a-proxy"
        ),
        pytest.param("", LOOPBACK, {"HTTP_X_REAL_IP": "203.0.113.9"}, id="x-real-ip"),
        pytest.param(TOKEN, [], {}, id="token-set-loopback-without-it"),
        pytest.param(TOKEN, [], {"HTTP_AUTHORIZATION": "Bearer wrong"}, id="wrong-token"),
        pytest.param(TOKEN, [], {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, id="not-bearer"),
        pytest.param("", [], {"HTTP_AUTHORIZATION": "Bearer "}, id="empty-token-never-matches"),
    ],
)
def test_metrics_are_not_found_for_other_clients(client, settings, token, networks, extra):
    # given
    settings.CIVICGRID_METRICS_TOKEN = token
    settings.CIVICGRID_METRICS_ALLOWED_NETWORKS = networks

    # when
    response = client.get("/metrics", **extra)

    # then
    assert response.status_code == 404
    assert b"civicgrid_" not in response.content


@pytest.mark.parametrize(
    ("token", "networks", "extra"),
    [
        pytest.param("", LOOPBACK, {}, id="allowed-loopback"),
        pytest.param("", LOOPBACK, {"REMOTE_ADDR": "::1"}, id="allowed-loopback-v6"),
        pytest.param("", ["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.2.3"}, id="allowed-network"),
        pytest.param("", ["10.0.0.0/8"], {"REMOTE_ADDR": "::ffff:10.1.2.3"}, id="v4-mapped"),
        pytest.param(
            TOKEN,
            [],
            {"REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"},
            id="token-from-anywhere",
        ),
        pytest.param(
            TOKEN,
            LOOPBACK,
            {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_AUTHORIZATION": f"bearer {TOKEN}"},
            id="token-through-a-proxy",
        ),
    ],
)
def test_metrics_are_served_to_the_token_or_an_allowed_network(
    client, settings, token, networks, extra
):
    # given
    settings.CIVICGRID_METRICS_TOKEN = token
    settings.CIVICGRID_METRICS_ALLOWED_NETWORKS = networks

    # when
    response = client.get("/metrics", **extra)

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("value", ["10.0.0.0/33", "localhost", "127.0.0.1/8,banana"])
def test_a_bad_metrics_network_stops_the_start_naming_the_variable(value):
    # given an install configured with a value that is not a network
    env = {**os.environ, "CIVICGRID_METRICS_ALLOWED_NETWORKS": value}
    code = "import civicgrid.config.settings.base"

    # when the settings load
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )

    # then the start stops with the variable and the bad item named
    assert result.returncode != 0
    assert "CIVICGRID_METRICS_ALLOWED_NETWORKS must list IP networks" in result.stderr


# --------------------------------------------------------------------------- metrics content


def test_metrics_count_requests_by_method_and_status(client):
    # given
    ok = 'civicgrid_http_requests_total{method="GET",status="200"}'
    missing = 'civicgrid_http_requests_total{method="GET",status="404"}'
    odd = 'civicgrid_http_requests_total{method="other",status="405"}'
    count = "civicgrid_http_request_duration_seconds_count"
    before = scrape(client)

    # when: two probes, a missing page and a made-up method (the first scrape counts too)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/")
    client.generic("BREW", "/healthz")
    after = scrape(client)

    # then
    assert after[ok] - before.get(ok, 0) == 3
    assert after[missing] - before.get(missing, 0) == 1
    assert after[odd] - before.get(odd, 0) == 1
    assert after[count] - before[count] == 5
    assert after['civicgrid_http_request_duration_seconds_bucket{le="+Inf"}'] == after[count]


def test_metrics_histogram_buckets_are_cumulative(client):
    # given
    client.get("/healthz")

    # when
    samples = scrape(client)

    # then
    buckets = [v for k, v in samples.items() if k.startswith("civicgrid_http_request_duration")]
    bucket_values = buckets[:-2]  # then _sum and _count
    assert len(bucket_values) == 12
    assert bucket_values == sorted(bucket_values)
    assert samples["civicgrid_http_request_duration_seconds_sum"] > 0


def test_metrics_expose_the_queue_and_the_unsealed_audit_rows(client, settings):
    # given three tasks queued, and two audit rows of which one is sealed
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    for _n in range(3):
        seal_audit_task.enqueue()
    audit_record(actor=None, action="test.sealed")
    audit_seal()
    audit_record(actor=None, action="test.unsealed")

    # when
    response = client.get("/metrics")

    # then
    text = response.content.decode()
    assert (
        "# HELP civicgrid_tasks_queued Tasks waiting in the database task queue and due to run"
        " now.\n# TYPE civicgrid_tasks_queued gauge\ncivicgrid_tasks_queued 3\n"
    ) in text
    assert "# TYPE civicgrid_audit_unsealed gauge\ncivicgrid_audit_unsealed 1\n" in text
    assert text.endswith("\n")


def test_metrics_expose_the_age_of_the_oldest_unsealed_audit_row(client):
    # given a sealed row, then two unsealed rows written 90 and 30 seconds ago
    audit_record(actor=None, action="test.sealed")
    audit_seal()
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(seconds=90), tick=False):
        audit_record(actor=None, action="test.old")
    with time_machine.travel(now - dt.timedelta(seconds=30), tick=False):
        audit_record(actor=None, action="test.newer")

    # when
    with time_machine.travel(now, tick=False):
        samples = scrape(client)

    # then
    assert samples["civicgrid_audit_oldest_unsealed_seconds"] == 90
    audit_seal()
    assert scrape(client)["civicgrid_audit_oldest_unsealed_seconds"] == 0


@pytest.fixture
def case_gauges() -> Iterator[None]:
    """The case gauges as civicgrid/cases/apps.py registers them (see docs/operations.md)."""
    register_gauge(
        "civicgrid_cases_open",
        "Open cases (reported up to checking).",
        lambda: Case.objects.filter(status__in=OPEN_STATUSES).count(),
    )
    register_gauge(
        "civicgrid_cases_overdue",
        "Open cases whose current step is past its deadline (red light).",
        lambda: Case.objects.filter(light_q(Light.RED, timezone.now())).count(),
    )
    yield


def test_metrics_expose_open_and_overdue_cases(client, case_gauges):
    # given three open cases, one of them past its deadline
    world = build_world()
    cases = [submit(world) for _n in range(3)]
    Case.objects.filter(pk=cases[0].pk).update(deadline_at=timezone.now() - dt.timedelta(minutes=5))

    # when
    samples = scrape(client)

    # then
    assert samples["civicgrid_cases_open"] == 3
    assert samples["civicgrid_cases_overdue"] == 1


@pytest.fixture
def test_gauges() -> Iterator[None]:
    yield
    for name in ("civicgrid_test_answer", "civicgrid_test_broken"):
        unregister_gauge(name)


def test_a_registered_gauge_is_exposed_and_can_be_replaced(client, test_gauges):
    # given
    register_gauge("civicgrid_test_answer", "An answer.\nOn two lines.", lambda: 41)
    register_gauge("civicgrid_test_answer", "The answer.", lambda: 42.5)

    # when
    text = client.get("/metrics").content.decode()

    # then
    assert (
        "# HELP civicgrid_test_answer The answer.\n"
        "# TYPE civicgrid_test_answer gauge\n"
        "civicgrid_test_answer 42.5\n"
    ) in text


def test_a_failing_gauge_is_left_out_and_logged(client, test_gauges, log_lines):
    # given
    register_gauge("civicgrid_test_broken", "Broken.", lambda: 1 / 0)

    # when
    response = client.get("/metrics")

    # then
    assert response.status_code == 200
    assert "civicgrid_test_broken" not in response.content.decode()
    assert "civicgrid_tasks_queued" in response.content.decode()
    errors = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [e["message"] for e in errors if e["level"] == "ERROR"] == [
        "Metric civicgrid_test_broken could not be read"
    ]


def test_register_gauge_refuses_a_name_prometheus_does_not_accept():
    with pytest.raises(ValueError, match="is not a Prometheus metric name"):
        register_gauge("cases-open", "Open cases.", lambda: 0)


# --------------------------------------------------------------------------- request logs


def test_requests_are_logged_with_their_request_id_but_probes_are_not(client, log_lines):
    # when
    client.get("/healthz")
    client.get("/metrics")
    missing = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-missing-0001")
    api_missing = client.get("/api/v1/cases/209901010001", HTTP_X_REQUEST_ID="req-api-0002")

    # then
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    request_lines = [
        (line["logger"], line["level"], line["request_id"], line["message"].rsplit(" ", 1)[0])
        for line in lines
        if line["logger"] in {"django.request", "civicgrid.request"}
    ]
    assert missing["X-Request-ID"] == "req-missing-0001"
    assert api_missing.status_code == 401
    assert request_lines == [
        ("django.request", "WARNING", "req-missing-0001", "Not Found:"),
        ("civicgrid.request", "INFO", "req-missing-0001", "GET /no-such-page/ 404"),
        ("django.request", "WARNING", "req-api-0002", "Unauthorized:"),
        ("civicgrid.request", "INFO", "req-api-0002", "GET /api/v1/cases/209901010001 401"),
    ]
