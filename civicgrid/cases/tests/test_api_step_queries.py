"""Every workflow step through the JSON API runs a pinned number of SQL queries.

Each test brings a case to the state a step needs (through the services), then sends the step
through the API with a Bearer token and counts every statement the request ran, the token check
and the rendering of the answer included. The counts are exact: a new query in a step, an N+1 in
its answer or a lost ``select_related`` changes a number here, and the failure lists the SQL.

What a plain step costs (10, e.g. ``accept``): the token (1), ``access_case`` (1), the
service's savepoint, ``_lock`` re-reading the case ``FOR UPDATE`` with what the answer shows
(category, cell, unit, rating), the trace row, the case update and the audit row (6 with the
savepoint's release; in a request outside a test the savepoint is the transaction itself),
then the answer's photos and pending requests (2). The answer is built from the case the
service returns, never re-read. Steps that write more say so next to their number.

``access_case`` and ``_lock`` both read the case on purpose: the access check (404 for missing
and forbidden alike) runs before the service, outside its transaction; the state checks run on
the row read under the lock.

Deterministic by construction: time is frozen (a token's ``last_used_at`` is written at most
once a minute, and every token is used once before), and the point → cell index is built before
the measured request and not re-checked during it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases import services as s
from civicgrid.cases.models import Case, RoutingRule, Trace
from civicgrid.cases.tests.factories import World, build_world, photo, png_bytes, submit

pytestmark = pytest.mark.django_db

API = "/api/v1"
# A Monday morning in working hours, Beijing time.
FROZEN = dt.datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass
class Api:
    world: World
    tokens: dict[str, str]
    client: Client

    def send(self, user: str, path: str, body: Any = None, *, form: bool = False) -> Any:
        auth = {"Authorization": f"Bearer {self.tokens[user]}"}
        if form:
            return self.client.post(f"{API}{path}", data=body or {}, headers=auth)
        if body is None:
            return self.client.post(f"{API}{path}", headers=auth)
        return self.client.post(
            f"{API}{path}", data=body, content_type="application/json", headers=auth
        )


@pytest.fixture
def api() -> Iterator[Api]:
    with (
        time_machine.travel(FROZEN, tick=False),
        override_settings(CIVICGRID_GEO_CACHE_CHECK_S=3600),
    ):
        world = build_world()
        tokens = {
            name: api_token_issue(actor=None, user=user, name="queries")[1]
            for name, user in world.users.items()
        }
        client = Client()
        for token in tokens.values():  # the first use of a token records last_used_at
            assert client.get(
                f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code
        submit(world)  # builds this process's point → cell index
        yield Api(world=world, tokens=tokens, client=client)


def upload(name: str = "after.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


def measure(
    api: Api, user: str, path: str, body: Any = None, *, form: bool = False
) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = api.send(user, path, body, form=form)
    return response, [q["sql"] for q in ctx.captured_queries]


def assert_queries(queries: list[str], expected: int) -> None:
    listing = "\n".join(f"{i:>3}. {sql}" for i, sql in enumerate(queries, start=1))
    assert len(queries) == expected, f"{len(queries)} queries, pinned {expected}:\n{listing}"


# --------------------------------------------------------------------------- given states


def reported(w: World) -> Case:
    return submit(w)


def accepted(w: World) -> Case:
    case = reported(w)
    return s.case_accept(actor=w.users["operator"], case=case)


def verified(w: World) -> Case:
    return s.case_verify(actor=w.users["grid_worker"], case=accepted(w), note="现场属实")


def filed(w: World) -> Case:
    return s.case_file(actor=w.users["shift_leader"], case=accepted(w))


def dispatched(w: World) -> Case:
    return s.case_dispatch(actor=w.users["dispatcher"], case=filed(w))


def processing(w: World) -> Case:
    return s.case_start(actor=w.users["clean_handler"], case=dispatched(w))


def processed(w: World) -> Case:
    return s.case_process(
        actor=w.users["clean_handler"], case=processing(w), note="已清理", photos=[photo()]
    )


def checking(w: World) -> Case:
    return s.case_check_start(actor=w.users["grid_worker"], case=processed(w))


def closed(w: World) -> Case:
    return s.case_check_finish(actor=w.users["grid_worker"], case=checking(w), passed=True)


def return_pending(w: World) -> Case:
    case = dispatched(w)
    s.case_return_request(actor=w.users["clean_handler"], case=case, reason="不归我们")
    return case


def extension_pending(w: World) -> Case:
    case = processing(w)
    s.case_extension_request(
        actor=w.users["clean_handler"], case=case, extra_minutes=60, reason="量大"
    )
    return case


def hold_pending(w: World) -> Case:
    case = processing(w)
    s.case_hold_request(actor=w.users["clean_handler"], case=case, reason="等待配件")
    return case


def on_hold(w: World) -> Case:
    case = hold_pending(w)
    return s.case_hold_decide(actor=w.users["shift_leader"], case=case, approve=True)


def self_handled(w: World) -> Case:
    return s.case_self_handle(
        actor=w.users["grid_worker"],
        case=reported(w),
        note="当场清理",
        before=[photo("before.png")],
        after=[photo("after.png")],
    )


# --------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class StepCase:
    given: Callable[[World], Case]
    user: str
    path: str  # after /cases/{number}/
    queries: int
    status_after: str
    body: Callable[[], Any] | None = None
    form: bool = False  # multipart instead of JSON


STEPS: dict[str, StepCase] = {
    "accept": StepCase(
        given=reported,
        user="operator",
        path="accept",
        body=lambda: {},
        queries=10,
        status_after="accepted",
    ),
    "cancel": StepCase(
        given=reported,
        user="operator",
        path="cancel",
        body=lambda: {"reason": "invalid", "note": "重复测试"},
        queries=10,
        status_after="cancelled",
    ),
    "verify": StepCase(
        given=accepted,
        user="grid_worker",
        path="verify",
        body=lambda: {"note": "属实", "photos": upload()},
        form=True,
        queries=11,
        status_after="verified",
    ),
    "file": StepCase(
        given=accepted,
        user="shift_leader",
        path="file",
        body=lambda: {},
        queries=10,
        status_after="filed",
    ),
    "file_verified": StepCase(
        given=verified,
        user="shift_leader",
        path="file",
        body=lambda: {},
        queries=10,
        status_after="filed",
    ),
    # + routing (1: the cell's rule and the category-wide one together) and the time limit;
    # disposal_deadline_at is written by the same UPDATE as the move.
    "dispatch": StepCase(
        given=filed,
        user="dispatcher",
        path="dispatch",
        body=lambda: {},
        queries=12,
        status_after="dispatched",
    ),
    # + the unit by its code and the time limit.
    "dispatch_to_unit": StepCase(
        given=filed,
        user="dispatcher",
        path="dispatch",
        body=lambda: {"unit": "clean-co"},
        queries=12,
        status_after="dispatched",
    ),
    # + the unit, the time limit and the withdrawal of pending return requests.
    "transfer": StepCase(
        given=dispatched,
        user="dispatcher",
        path="transfer",
        body=lambda: {"unit": "lights-co", "reason": "路灯公司负责"},
        queries=13,
        status_after="dispatched",
    ),
    # + the check that no request of the kind is pending and the request row. The answer is the
    # request's case (the locked row), as in extension_request, hold_request and rate.
    "return_request": StepCase(
        given=dispatched,
        user="clean_handler",
        path="return-request",
        body=lambda: {"reason": "不归我们"},
        queries=12,
        status_after="dispatched",
    ),
    "return_decision": StepCase(
        given=return_pending,
        user="dispatcher",
        path="return-decision",
        body=lambda: {"approve": True},
        queries=12,
        status_after="filed",
    ),
    "start": StepCase(
        given=dispatched,
        user="clean_handler",
        path="start",
        body=lambda: {},
        queries=10,
        status_after="processing",
    ),
    "extension_request": StepCase(
        given=processing,
        user="clean_handler",
        path="extension-request",
        body=lambda: {"extra_minutes": 60, "reason": "量大"},
        queries=12,
        status_after="processing",
    ),
    "extension_decision": StepCase(
        given=extension_pending,
        user="shift_leader",
        path="extension-decision",
        body=lambda: {"approve": True},
        queries=12,
        status_after="processing",
    ),
    "hold_request": StepCase(
        given=processing,
        user="clean_handler",
        path="hold-request",
        body=lambda: {"reason": "等待配件"},
        queries=12,
        status_after="processing",
    ),
    "hold_decision": StepCase(
        given=hold_pending,
        user="shift_leader",
        path="hold-decision",
        body=lambda: {"approve": True},
        queries=12,
        status_after="processing",
    ),
    "resume": StepCase(
        given=on_hold,
        user="clean_handler",
        path="resume",
        body=lambda: {},
        queries=10,
        status_after="processing",
    ),
    "process": StepCase(
        given=processing,
        user="clean_handler",
        path="process",
        body=lambda: {"note": "已清理", "photos": upload()},
        form=True,
        queries=12,
        status_after="processed",
    ),
    # Two moves (start, then process): a second trace row, case update and audit row.
    "process_from_dispatched": StepCase(
        given=dispatched,
        user="clean_handler",
        path="process",
        body=lambda: {"note": "已清理", "photos": upload()},
        form=True,
        queries=15,
        status_after="processed",
    ),
    "check_start": StepCase(
        given=processed,
        user="grid_worker",
        path="check-start",
        queries=10,
        status_after="checking",
    ),
    "check_pass": StepCase(
        given=checking,
        user="grid_worker",
        path="check",
        body=lambda: {"passed": "true", "note": "已核实"},
        form=True,
        queries=10,
        status_after="closed",
    ),
    # + the time limit of the rework; disposal_deadline_at is written by the move's UPDATE.
    "check_fail": StepCase(
        given=checking,
        user="grid_worker",
        path="check",
        body=lambda: {"passed": "false", "note": "没清干净"},
        form=True,
        queries=11,
        status_after="dispatched",
    ),
    # + the rating's INSERT. Whether the case was rated is read with the lock, and the answer's
    # rating is the one just written.
    "rate": StepCase(
        given=closed,
        user="resident",
        path="rate",
        body=lambda: {"satisfaction": "satisfied", "resolved": True},
        queries=11,
        status_after="evaluated",
    ),
    "rate_callback": StepCase(
        given=closed,
        user="operator",
        path="rate",
        body=lambda: {"satisfaction": "satisfied", "resolved": True},
        queries=11,
        status_after="evaluated",
    ),
    "self_handle": StepCase(
        given=reported,
        user="grid_worker",
        path="self-handle",
        body=lambda: {"note": "当场清理", "before": upload("b.png"), "after": upload("a.png")},
        form=True,
        queries=13,
        status_after="closed",
    ),
    "self_handle_review": StepCase(
        given=self_handled,
        user="shift_leader",
        path="self-handle-review",
        body=lambda: {"approve": True},
        queries=12,
        status_after="closed",
    ),
    # The follower row (look-up, savepoint pair, insert) and the count's UPDATE; the answer is
    # the public projection of the locked case, its count raised in memory (no re-read).
    "follow": StepCase(
        given=reported,
        user="resident2",
        path="follow",
        queries=11,
        status_after="reported",
    ),
}


@pytest.mark.parametrize("name", list(STEPS))
def test_each_step_runs_a_pinned_number_of_queries(api: Api, name: str) -> None:
    # given a case in the state the step needs
    step = STEPS[name]
    case = step.given(api.world)
    traces_before = Trace.objects.filter(case=case).count()
    # when the step is sent through the API
    body = step.body() if step.body is not None else None
    response, queries = measure(
        api, step.user, f"/cases/{case.number}/{step.path}", body, form=step.form
    )
    # then it succeeded, wrote its row and ran exactly the pinned queries
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert case.status == step.status_after
    if name != "follow":
        assert Trace.objects.filter(case=case).count() > traces_before
    assert_queries(queries, step.queries)
    # and answered with what a fresh read of the case shows (it is built from the row the
    # service locked and updated, not read again)
    fresh = api.client.get(
        f"{API}/cases/{case.number}", headers={"Authorization": f"Bearer {api.tokens[step.user]}"}
    )
    assert fresh.status_code == 200, fresh.content
    answer, expected = response.json(), fresh.json()
    if name == "follow":  # the public projection
        expected = {key: expected[key] for key in answer}
    assert _instants(answer) == _instants(expected)


def _instants(value: Any) -> Any:
    """``value`` with every ISO date-time string parsed, so that the same instant in two zones
    compares equal."""
    if isinstance(value, dict):
        return {key: _instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_instants(item) for item in value]
    if isinstance(value, str) and "T" in value and value[:4].isdigit():
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


@pytest.mark.parametrize(
    ("cell_rule", "unit"), [(False, "clean-co"), (True, "lights-co")], ids=["category", "cell"]
)
def test_dispatch_reads_both_routing_rules_at_once_and_the_cells_rule_wins(
    api: Api, cell_rule: bool, unit: str
) -> None:
    # given a filed case whose category has a category-wide rule (to clean-co), and maybe a
    # rule for the case's own cell
    w = api.world
    case = filed(w)
    if cell_rule:
        RoutingRule.objects.create(cell=case.cell, category=case.category, unit=w.units["lights"])
    # when it is dispatched without naming a unit
    response, queries = measure(api, "dispatcher", f"/cases/{case.number}/dispatch", {})
    # then the cell's rule decides when there is one, in one routing query either way
    assert response.status_code == 200, response.content
    assert response.json()["unit"]["code"] == unit
    assert_queries(queries, 12)


def submit_body(w: World) -> dict[str, Any]:
    return {
        "category": "E0101",
        "description": "小区门口有一堆垃圾没人清理",
        "lat": w.inside_lat,
        "lng": w.inside_lng,
    }


# A submission is 14: the token, the category and its leaf check, the cell, the daily counter
# (update, read), the case, its trace row and audit row, the answer's 3 reads (photos, pending
# requests, rating), and the savepoint pair. full_clean() checks fields only (it used to run 13
# queries of its own).
def test_a_submission_runs_a_pinned_number_of_queries(api: Api) -> None:
    # when a resident reports without an idempotency key
    response, queries = measure(api, "resident", "/cases", submit_body(api.world))
    # then
    assert response.status_code == 201, response.content
    assert_queries(queries, 14)


def test_a_keyed_submission_and_its_repeat_run_pinned_numbers_of_queries(api: Api) -> None:
    # given
    headers = {"Authorization": f"Bearer {api.tokens['resident']}", "Idempotency-Key": "queries-1"}
    body = submit_body(api.world)

    def send() -> tuple[Any, list[str]]:
        with CaptureQueriesContext(connection) as ctx:
            response = api.client.post(
                f"{API}/cases",
                data=body,
                content_type="application/json",
                headers=headers,
            )
        return response, [q["sql"] for q in ctx.captured_queries]

    # when the same keyed report is sent twice
    first, first_queries = send()
    again, again_queries = send()
    # then the first creates, the repeat answers with the same case, each with pinned queries
    assert first.status_code == 201, first.content
    assert again.status_code == 200, again.content
    assert again.json()["number"] == first.json()["number"]
    assert_queries(first_queries, 15)  # + the look-up of the key
    # the repeat finds the case by its key with what the answer shows (category, cell, unit,
    # rating): the token, that look-up, the photos and the pending requests
    assert_queries(again_queries, 4)
