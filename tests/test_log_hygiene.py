"""Log hygiene, proved on a whole run: no resident ID number or mobile number in any log line.

A case is reported by the hotline operator with an 18-digit resident ID number and a mobile
number in its description, reporter phone and notes, then walked through the whole workflow
over the JSON API (operator, shift leader, dispatcher, contractor, grid worker), with refused
requests, a view that fails with both numbers in its exception, and a periodic job that does
the same. Every line the configured console handler writes (JsonFormatter + RequestIdFilter),
down to DEBUG, is captured and checked: valid JSON, neither number in clear, and
every request log line carrying the id its response was given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases.models import Case, Status
from civicgrid.cases.tests.factories import World, build_world, upload
from civicgrid.core.logging import JsonFormatter
from civicgrid.core.periodic import PeriodicJob, run_due_jobs

ID_NUMBER = "11010519491231002X"  # a valid resident ID checksum
PHONE = "13812345678"
SECRETS = (ID_NUMBER, ID_NUMBER.lower(), PHONE)
METRICS_MIDDLEWARE = "civicgrid.core.metrics.RequestMetricsMiddleware"
REQUEST_LOGGERS = {"django.request", "civicgrid.request"}
API = "/api/v1"


def fail_with_personal_data(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"could not call back {PHONE} about resident {ID_NUMBER}")


urlpatterns = [
    path("fail/", fail_with_personal_data),
    path("", include("civicgrid.core.urls")),
    path("", include("civicgrid.config.urls")),
]

# transaction=True: the periodic runner closes connections between jobs, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


@pytest.fixture(autouse=True)
def _metrics_middleware(settings: Any, tmp_path: Any) -> None:
    # The access log and the request ids of 4xx lines come from this middleware, which the
    # settings list first (added here while they do not yet).
    if METRICS_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [METRICS_MIDDLEWARE, *settings.MIDDLEWARE]
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def log_output() -> Iterator[StringIO]:
    """Everything the configured console handler writes, from here on, in its own format.

    At DEBUG, below the configured INFO, so that no level is left out of the proof.
    """
    root = logging.getLogger()
    console = next(h for h in root.handlers if isinstance(h.formatter, JsonFormatter))
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)


class Run:
    """API clients per user, remembering the request id of every response."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.request_ids: list[str] = []
        self.tokens = {
            name: api_token_issue(actor=None, user=user, name="tests")[1]
            for name, user in world.users.items()
        }

    def client(self, username: str | None) -> Client:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"} if username else {}
        return Client(headers=headers, raise_request_exception=False)

    def call(self, username: str | None, method: str, url: str, **kwargs: Any) -> Any:
        response = getattr(self.client(username), method)(url, **kwargs)
        self.request_ids.append(response["X-Request-ID"])
        return response

    def post_json(self, username: str | None, url: str, body: dict[str, Any]) -> Any:
        return self.call(username, "post", url, data=body, content_type="application/json")


def walk_the_workflow(run: Run) -> str:
    """Report a case full of personal data and take it to closed; return its number."""
    world = run.world
    created = run.post_json(
        "operator",
        f"{API}/cases",
        {
            "category": "E0101",
            "description": f"居民（身份证 {ID_NUMBER}，电话 {PHONE}）反映：门口垃圾没人清理",
            "lat": world.inside_lat,
            "lng": world.inside_lng,
            "reporter_name": "张三",
            "reporter_phone": PHONE,
        },
    )
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    for user, step in [
        ("operator", "accept"),
        ("shift_leader", "file"),
        ("dispatcher", "dispatch"),
        ("clean_handler", "start"),
    ]:
        note = {"note": f"已电话联系 {PHONE}，证件 {ID_NUMBER}"}
        response = run.post_json(user, f"{API}/cases/{number}/{step}", note)
        assert response.status_code == 200, (step, response.content)
    processed = run.call(
        "clean_handler",
        "post",
        f"{API}/cases/{number}/process",
        data={"note": f"已清理，回访 {PHONE}", "photos": upload()},
    )
    assert processed.status_code == 200, processed.content
    assert run.call("grid_worker", "post", f"{API}/cases/{number}/check-start").status_code == 200
    checked = run.call(
        "grid_worker",
        "post",
        f"{API}/cases/{number}/check",
        data={"passed": "true", "note": f"居民 {ID_NUMBER} 确认已解决"},
    )
    assert checked.status_code == 200, checked.content
    return str(number)


def make_refused_requests(run: Run, number: str) -> None:
    """Requests that fail: wrong role, no token, bad input, unknown case, a crashing view."""
    steps = [
        run.post_json("resident", f"{API}/cases/{number}/accept", {"note": PHONE}),
        run.post_json(None, f"{API}/cases", {"category": "E0101", "description": ID_NUMBER}),
        run.post_json("operator", f"{API}/cases", {"category": "E0101", "description": ""}),
        run.post_json(
            "operator",
            f"{API}/cases",
            {"category": "E0101", "description": "x", "reporter_phone": PHONE * 2},
        ),
        run.call("operator", "get", f"{API}/cases/{ID_NUMBER}"),
        run.call("operator", "get", f"/cases/{PHONE}/"),
        run.call("operator", "get", "/fail/", HTTP_X_REQUEST_ID="req-failing-view-01"),
    ]
    assert [r.status_code for r in steps] == [404, 401, 400, 400, 404, 404, 500]


def fail_a_periodic_job() -> None:
    def job() -> None:
        raise ValueError(f"notification to {PHONE} ({ID_NUMBER}) bounced")

    run_due_jobs([PeriodicJob(path="tests.failing_job", interval_s=60, func=job)])


def test_a_full_run_logs_no_personal_number_and_every_request_line_has_its_id(log_output):
    # given
    run = Run(build_world())

    # when
    number = walk_the_workflow(run)
    make_refused_requests(run, number)
    fail_a_periodic_job()

    # then: the run happened and was logged
    assert Case.objects.get(number=number).status == Status.CLOSED
    raw = log_output.getvalue()
    lines = [json.loads(line) for line in raw.splitlines()]  # every line is one JSON object
    assert all(
        isinstance(line, dict) and {"time", "level", "logger", "request_id", "message"} <= set(line)
        for line in lines
    )
    # no ID number and no mobile number anywhere, in messages or tracebacks
    for secret in SECRETS:
        assert secret not in raw
    # the failing view and the failing job were logged, masked, with their tracebacks
    failures = [line for line in lines if line["level"] == "ERROR"]
    assert [(f["logger"], f["request_id"], f["message"]) for f in failures] == [
        ("django.request", "req-failing-view-01", "Internal Server Error: /fail/"),
        ("civicgrid.core.periodic", "-", "Periodic job tests.failing_job failed"),
    ]
    assert "could not call back 138****5678 about resident 110105********002X" in failures[0]["exc"]
    assert "notification to 138****5678 (110105********002X) bounced" in failures[1]["exc"]
    # every request log line carries the id of its request, and every request has its line
    request_lines = [line for line in lines if line["logger"] in REQUEST_LOGGERS]
    assert {line["request_id"] for line in request_lines} == set(run.request_ids)
    access_ids = [line["request_id"] for line in request_lines if line["logger"].startswith("civ")]
    assert access_ids == run.request_ids
    assert len(run.request_ids) == 15
