"""The cases API over real HTTP: a live server in a thread, httpx clients with API tokens."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases.models import Case, Follower, Status, Trace
from civicgrid.cases.tests.factories import World, build_world, png_bytes
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1"


@dataclass
class Api:
    """One httpx client per user of the world, each with its own API token."""

    base_url: str
    world: World
    tokens: dict[str, str]
    opened: list[httpx.Client]

    def __call__(self, username: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"} if username else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
        self.opened.append(client)
        return client


@pytest.fixture
def world(transactional_db: None) -> World:
    return build_world(second_community=True)


@pytest.fixture
def api(live_server: Any, world: World) -> Iterator[Api]:
    tokens = {
        name: api_token_issue(actor=None, user=user, name="tests")[1]
        for name, user in world.users.items()
    }
    helper = Api(base_url=f"{live_server.url}{API}", world=world, tokens=tokens, opened=[])
    yield helper
    for client in helper.opened:
        client.close()


def submit_json(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "E0101",
        "description": "小区门口有一堆垃圾没人清理",
        "lat": world.inside_lat,
        "lng": world.inside_lng,
    }
    body.update(overrides)
    return body


def photo_files(field: str = "photos", count: int = 1) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (f"p{i}.png", png_bytes(), "image/png")) for i in range(count)]


@dataclass(frozen=True)
class Snapshot:
    status: str
    trace_count: int
    audit_count: int


def snapshot(number: str) -> Snapshot:
    case = Case.objects.get(number=number)
    return Snapshot(
        status=case.status,
        trace_count=Trace.objects.filter(case=case).count(),
        audit_count=AuditRecord.objects.count(),
    )


def reported_case(api: Api) -> str:
    response = api("resident").post("/cases", json=submit_json(api.world))
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


def dispatched_case(api: Api) -> str:
    number = reported_case(api)
    for user, step in [
        ("operator", "accept"),
        ("shift_leader", "file"),
        ("dispatcher", "dispatch"),
    ]:
        response = api(user).post(f"/cases/{number}/{step}", json={})
        assert response.status_code == 200, response.text
    return number


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert error["field"] == field


# --------------------------------------------------------------------------- the full loop


def test_full_loop_through_the_api_across_roles(api: Api) -> None:
    # given
    resident = api("resident")
    body = submit_json(api.world, address="东门", urgency="normal", nature="report")

    # when: every role takes its step, each through its own token
    created = resident.post("/cases", json=body)
    number = created.json()["number"]
    queue = api("operator").get("/cases/queue").json()
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("operator", "accept", {"json": {"note": "属实"}}),
        ("shift_leader", "file", {"json": {}}),
        ("dispatcher", "dispatch", {"json": {"note": "请尽快处理"}}),
        ("clean_handler", "start", {"json": {}}),
        ("clean_handler", "process", {"data": {"note": "已清理"}, "files": photo_files()}),
        ("grid_worker", "check-start", {}),
        ("grid_worker", "check", {"data": {"passed": "true", "note": "已核实"}}),
        ("resident", "rate", {"json": {"satisfaction": "very_satisfied", "resolved": True}}),
    ]
    statuses = []
    for user, step, kwargs in steps:
        response = api(user).post(f"/cases/{number}/{step}", **kwargs)
        assert response.status_code == 200, (step, response.text)
        statuses.append(response.json()["status"])
    timeline = resident.get(f"/cases/{number}/timeline")
    detail = resident.get(f"/cases/{number}").json()

    # then
    assert created.status_code == 201
    assert created.json()["status"] == "reported"
    assert created.json()["light"] in {"green", "yellow", "red"}
    assert created.json()["deadline_at"] is not None
    assert [item["number"] for item in queue["items"]] == [number]
    assert statuses == [
        "accepted",
        "filed",
        "dispatched",
        "processing",
        "processed",
        "checking",
        "closed",
        "evaluated",
    ]
    assert timeline.status_code == 200
    assert [t["action"] for t in timeline.json()] == [
        "submit",
        "accept",
        "file",
        "dispatch",
        "start",
        "process",
        "check_start",
        "check_pass",
        "rate",
    ]
    assert [t["actor"] for t in timeline.json()] == [None] * 9  # residents see roles, not names
    assert timeline.json()[3]["unit"]["code"] == "clean-co"
    assert len(timeline.json()[5]["photos"]) == 1
    assert detail["status"] == "evaluated"
    assert detail["light"] == "none"
    assert detail["unit"]["code"] == "clean-co"
    assert detail["rating"]["satisfaction"] == "very_satisfied"
    assert detail["rating"]["resolved"] is True
    assert [p["stage"] for p in detail["photos"]] == ["process"]
    photo_url = detail["photos"][0]["url"]
    assert photo_url == f"{API}/cases/{number}/photos/{detail['photos'][0]['id']}"
    public_copy = resident.get(photo_url.removeprefix(API))
    assert public_copy.status_code == 200
    assert public_copy.headers["content-type"] == "image/jpeg"
    original = api("operator").get(photo_url.removeprefix(API))
    assert original.headers["content-type"] == "image/png"  # staff get the original upload
    assert api(None).get(f"/cases/{number}/photos/999999").status_code in (401, 404)


def test_staff_timeline_names_the_actors(api: Api) -> None:
    # given
    number = reported_case(api)
    api("operator").post(f"/cases/{number}/accept", json={})

    # when
    timeline = api("supervisor").get(f"/cases/{number}/timeline").json()

    # then
    assert [(t["action"], t["actor"], t["role"]) for t in timeline] == [
        ("submit", "resident", "resident"),
        ("accept", "operator", "operator"),
    ]


def test_return_extension_and_hold_requests_through_the_api(api: Api) -> None:
    # given
    number = dispatched_case(api)
    handler = api("clean_handler")

    # when
    extension = handler.post(
        f"/cases/{number}/extension-request", json={"extra_minutes": 60, "reason": "等配件"}
    )
    decided = api("shift_leader").post(
        f"/cases/{number}/extension-decision", json={"approve": True}
    )
    held = handler.post(f"/cases/{number}/hold-request", json={"reason": "等待业主"})
    hold_decided = api("supervisor").post(
        f"/cases/{number}/hold-decision", json={"approve": True, "note": "同意"}
    )
    resumed = handler.post(f"/cases/{number}/resume", json={})
    returned = handler.post(f"/cases/{number}/return-request", json={"reason": "不是我们的"})
    return_decided = api("dispatcher").post(
        f"/cases/{number}/return-decision", json={"approve": True}
    )

    # then
    assert extension.status_code == 200, extension.text
    assert [(r["kind"], r["extra_minutes"]) for r in extension.json()["pending_requests"]] == [
        ("extension", 60)
    ]
    assert decided.json()["extension_count"] == 1
    assert decided.json()["pending_requests"] == []
    assert [r["kind"] for r in held.json()["pending_requests"]] == ["hold"]
    assert hold_decided.json()["is_on_hold"] is True
    assert resumed.json()["is_on_hold"] is False
    assert [r["kind"] for r in returned.json()["pending_requests"]] == ["return"]
    assert return_decided.status_code == 200, return_decided.text
    assert return_decided.json()["status"] == "filed"
    assert return_decided.json()["unit"] is None
    assert return_decided.json()["return_count"] == 1


def test_verify_transfer_and_rework_through_the_api(api: Api) -> None:
    # given
    number = reported_case(api)
    api("operator").post(f"/cases/{number}/accept", json={})

    # when
    verified = api("grid_worker").post(
        f"/cases/{number}/verify", data={"note": "现场确认"}, files=photo_files()
    )
    api("shift_leader").post(f"/cases/{number}/file", json={})
    api("dispatcher").post(f"/cases/{number}/dispatch", json={"unit": "clean-co"})
    before_refusal = snapshot(number)
    no_reason = api("dispatcher").post(f"/cases/{number}/transfer", json={"unit": "lights-co"})
    after_refusal = snapshot(number)
    transferred = api("dispatcher").post(
        f"/cases/{number}/transfer", json={"unit": "lights-co", "reason": "路灯公司负责"}
    )
    api("lights_handler").post(
        f"/cases/{number}/process", data={"note": "已修复"}, files=photo_files()
    )
    api("grid_worker").post(f"/cases/{number}/check-start")
    failed_without_reason = api("grid_worker").post(
        f"/cases/{number}/check", data={"passed": "false"}
    )
    rework = api("grid_worker").post(
        f"/cases/{number}/check", data={"passed": "false", "note": "还没修好"}
    )

    # then
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    assert [p["stage"] for p in verified.json()["photos"]] == ["check"]
    assert_error(no_reason, 400, "cases.reason_required", field="reason")
    assert after_refusal == before_refusal
    assert transferred.status_code == 200, transferred.text
    assert transferred.json()["unit"]["code"] == "lights-co"
    assert transferred.json()["transfer_count"] == 1
    assert_error(failed_without_reason, 400, "cases.reason_required", field="reason")
    assert rework.status_code == 200, rework.text
    assert rework.json()["status"] == "dispatched"
    assert rework.json()["rework_count"] == 1
    assert rework.json()["unit"]["code"] == "lights-co"


def test_self_handle_and_review_through_the_api(api: Api) -> None:
    # given
    number = reported_case(api)
    files = photo_files("before") + photo_files("after")

    # when
    handled = api("grid_worker").post(
        f"/cases/{number}/self-handle", data={"note": "顺手清理了"}, files=files
    )
    reviewed = api("shift_leader").post(
        f"/cases/{number}/self-handle-review", json={"approve": True}
    )

    # then
    assert handled.status_code == 200, handled.text
    assert handled.json()["status"] == "closed"
    assert handled.json()["is_self_handled"] is True
    assert sorted(p["stage"] for p in handled.json()["photos"]) == ["after", "before"]
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["pending_requests"] == []


def test_cancel_as_duplicate_and_follow(api: Api) -> None:
    # given
    first = reported_case(api)
    second = api("resident2").post("/cases", json=submit_json(api.world)).json()["number"]

    # when
    suggestions = api("resident2").get(
        "/cases/duplicates",
        params={"category": "E0101", "lat": api.world.inside_lat, "lng": api.world.inside_lng},
    )
    cancelled = api("operator").post(
        f"/cases/{second}/cancel", json={"reason": "duplicate", "duplicate_of": first}
    )
    followed = api("grid_worker").post(f"/cases/{first}/follow")

    # then
    assert suggestions.status_code == 200
    assert [(s["case"]["number"], s["distance_m"]) for s in suggestions.json()] == [
        (second, 0.0),  # equally near: the newest first
        (first, 0.0),
    ]
    assert "reporter" not in suggestions.json()[0]["case"]
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "duplicate"
    assert cancelled.json()["duplicate_of"] == first
    assert followed.status_code == 200, followed.text
    assert followed.json() == {
        "number": first,
        "status": "reported",
        "category": {"code": "E0101", "name": "暴露垃圾", "name_en": "Exposed rubbish"},
        "description": "小区门口有一堆垃圾没人清理",
        "reported_at": followed.json()["reported_at"],
        "follower_count": 2,
    }
    assert Follower.objects.filter(case__number=first).count() == 2


# --------------------------------------------------------------------------- reads


def test_categories_are_public_leaves_with_their_path(api: Api) -> None:
    # when
    response = api(None).get("/categories")

    # then
    assert response.status_code == 200
    assert response.json() == [
        {
            "code": "C0101",
            "name": "污水井盖",
            "name_en": "Sewage manhole cover",
            "branch": "component",
            "parent_code": "C01",
            "path": [
                {"code": "C", "name": "部件", "name_en": "Components"},
                {"code": "C01", "name": "公用设施", "name_en": "Public utilities"},
            ],
        },
        {
            "code": "C0102",
            "name": "路灯",
            "name_en": "Street light",
            "branch": "component",
            "parent_code": "C01",
            "path": [
                {"code": "C", "name": "部件", "name_en": "Components"},
                {"code": "C01", "name": "公用设施", "name_en": "Public utilities"},
            ],
        },
        {
            "code": "E0101",
            "name": "暴露垃圾",
            "name_en": "Exposed rubbish",
            "branch": "event",
            "parent_code": "E01",
            "path": [
                {"code": "E", "name": "事件", "name_en": "Events"},
                {"code": "E01", "name": "市容环境", "name_en": "Environment"},
            ],
        },
    ]


def test_case_list_is_scoped_filtered_and_paged(api: Api) -> None:
    # given
    numbers = [reported_case(api) for _ in range(3)]
    light = api("resident").post("/cases", json=submit_json(api.world, category="C0102"))
    api("operator").post(f"/cases/{numbers[0]}/accept", json={})

    # when
    operator = api("operator")
    everything = operator.get("/cases").json()
    reported = operator.get("/cases", params={"status": "reported"}).json()
    lights = operator.get("/cases", params={"category": "C0102"}).json()
    parent = operator.get("/cases", params={"category": "E01"}).json()
    page2 = operator.get("/cases", params={"page": 2, "page_size": 3}).json()
    not_overdue = operator.get("/cases", params={"overdue": "false"}).json()
    no_clock = operator.get("/cases", params={"light": "none"}).json()
    by_light = {
        color: operator.get("/cases", params={"light": color}).json()["count"]
        for color in ("green", "yellow", "red")
    }
    own = api("resident").get("/cases").json()
    others = api("resident2").get("/cases").json()
    other_community = api("other_operator").get("/cases").json()
    unit = api("clean_handler").get("/cases").json()

    # then
    assert everything["count"] == 4
    assert everything["page"] == 1
    assert everything["page_size"] == 20
    assert {c["number"] for c in everything["items"]} == {*numbers, light.json()["number"]}
    assert reported["count"] == 3
    assert [c["number"] for c in lights["items"]] == [light.json()["number"]]
    assert parent["count"] == 3
    assert page2["count"] == 4
    assert len(page2["items"]) == 1
    assert not_overdue["count"] == 4
    assert no_clock["count"] == 0
    assert sum(by_light.values()) == 4
    assert own["count"] == 4
    assert others["count"] == 0
    assert other_community["count"] == 0
    assert unit["count"] == 0


def test_queue_is_the_roles_work(api: Api) -> None:
    # given
    number = dispatched_case(api)
    waiting = reported_case(api)

    # when
    operator = api("operator").get("/cases/queue").json()
    handler = api("clean_handler").get("/cases/queue").json()
    other_unit = api("lights_handler").get("/cases/queue").json()
    resident = api("resident").get("/cases/queue").json()

    # then
    assert [c["number"] for c in operator["items"]] == [waiting]
    assert [c["number"] for c in handler["items"]] == [number]
    assert handler["items"][0]["unit"]["code"] == "clean-co"
    assert other_unit["count"] == 0
    assert resident["count"] == 0


def test_personal_data_is_masked_per_role(api: Api) -> None:
    # given
    number = dispatched_case(api)
    clear = {"name": "resident", "phone": "13800138000", "is_masked": False}
    masked = {"name": "r*******", "phone": "138****8000", "is_masked": True}
    expected = {
        "resident": clear,
        "operator": clear,
        "shift_leader": clear,
        "dispatcher": clear,
        "supervisor": clear,
        "admin": clear,
        "grid_worker": masked,
        "committee_member": masked,
        "clean_handler": masked,
    }

    # when
    seen = {user: api(user).get(f"/cases/{number}").json()["reporter"] for user in expected}

    # then
    assert seen == expected


def test_other_residents_and_units_do_not_see_the_case(api: Api) -> None:
    # given
    number = dispatched_case(api)

    # when
    responses = [
        api(user).get(f"/cases/{number}")
        for user in ("resident2", "lights_handler", "other_operator")
    ]

    # then
    for response in responses:
        assert_error(response, 404, "cases.not_found")


# --------------------------------------------------------------------------- refused steps


def test_wrong_role_is_refused_with_403_and_nothing_changes(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)

    # when
    response = api("resident").post(f"/cases/{number}/accept", json={})

    # then
    assert_error(response, 403, "cases.wrong_role")
    assert snapshot(number) == before


def test_wrong_state_is_refused_with_409_and_nothing_changes(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)

    # when
    response = api("shift_leader").post(f"/cases/{number}/file", json={})

    # then
    assert_error(response, 409, "cases.wrong_state")
    assert snapshot(number) == before
    assert before.status == Status.REPORTED


def test_missing_reason_is_refused_with_400_naming_the_field(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)

    # when
    cancel = api("operator").post(f"/cases/{number}/cancel", json={"note": "?"})

    # then
    assert_error(cancel, 400, "cases.reason_required", field="reason")
    assert snapshot(number) == before


def test_missing_return_reason_is_refused(api: Api) -> None:
    # given
    number = dispatched_case(api)
    before = snapshot(number)

    # when
    response = api("clean_handler").post(f"/cases/{number}/return-request", json={})

    # then
    assert_error(response, 400, "cases.reason_required", field="reason")
    assert snapshot(number) == before


def test_processing_without_a_photo_is_refused(api: Api) -> None:
    # given
    number = dispatched_case(api)
    before = snapshot(number)

    # when
    response = api("clean_handler").post(f"/cases/{number}/process", data={"note": "已清理"})

    # then
    assert_error(response, 400, "cases.photo_required", field="photos")
    assert snapshot(number) == before


def test_unknown_case_is_404(api: Api) -> None:
    # given
    audit_count = AuditRecord.objects.count()

    # when
    detail = api("operator").get("/cases/209901010001")
    step = api("operator").post("/cases/209901010001/accept", json={})
    garbage = api("operator").get("/cases/not-a-number/timeline")

    # then
    assert_error(detail, 404, "cases.not_found")
    assert_error(step, 404, "cases.not_found")
    assert_error(garbage, 404, "cases.not_found")
    assert AuditRecord.objects.count() == audit_count


def test_another_communitys_operator_gets_404_and_nothing_changes(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)

    # when
    response = api("other_operator").post(f"/cases/{number}/accept", json={})

    # then
    assert_error(response, 404, "cases.not_found")
    assert snapshot(number) == before


def test_rating_twice_is_refused(api: Api) -> None:
    # given
    number = dispatched_case(api)
    api("clean_handler").post(
        f"/cases/{number}/process", data={"note": "已清理"}, files=photo_files()
    )
    api("grid_worker").post(f"/cases/{number}/check-start")
    api("grid_worker").post(f"/cases/{number}/check", data={"passed": "true"})
    rating = {"satisfaction": "satisfied", "resolved": True}
    assert api("resident").post(f"/cases/{number}/rate", json=rating).status_code == 200
    before = snapshot(number)

    # when
    response = api("resident").post(f"/cases/{number}/rate", json=rating)

    # then
    assert_error(response, 409, "cases.already_rated")
    assert snapshot(number) == before


# --------------------------------------------------------------------------- bad input


BAD_SUBMISSIONS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"lat": 91.0}, 400, "invalid_input", "lat"),
    ({"lng": -180.5}, 400, "invalid_input", "lng"),
    ({"lat": "north"}, 400, "invalid_input", "lat"),
    ({"category": "Z9999"}, 400, "cases.unknown_category", "category"),
    ({"category": "E01"}, 400, "cases.unknown_category", "category"),
    ({"description": "x" * 4001}, 400, "invalid_input", "description"),
    ({"description": ""}, 400, "invalid_input", "description"),
    ({"description": "   "}, 400, "cases.note_required", "description"),
    ({"urgency": "yesterday"}, 400, "invalid_input", "urgency"),
    ({"is_anonymous": "perhaps"}, 400, "invalid_input", "is_anonymous"),
    ({"lat": None}, 400, "cases.bad_location", "lat"),
    ({"lat": None, "lng": None}, 400, "cases.bad_location", "location"),
    ({"lat": 10.0, "lng": 10.0}, 400, "cases.outside_grid", "location"),
]


def test_bad_submissions_are_refused_and_create_nothing(api: Api) -> None:
    # given
    resident = api("resident")
    counts = (Case.objects.count(), AuditRecord.objects.count())

    # when
    responses = [
        resident.post("/cases", json=submit_json(api.world, **overrides))
        for overrides, *_ in BAD_SUBMISSIONS
    ]

    # then
    for response, (overrides, status, code, field) in zip(responses, BAD_SUBMISSIONS, strict=True):
        assert (overrides, response.status_code) == (overrides, status), response.text
        error = response.json()["error"]
        assert (overrides, error["code"], error["field"]) == (overrides, code, field)
    assert (Case.objects.count(), AuditRecord.objects.count()) == counts


def test_validation_errors_list_every_field(api: Api) -> None:
    # when
    response = api("resident").post("/cases", json={"lat": 100, "description": "x" * 4001})

    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert sorted(f["field"] for f in error["fields"]) == ["category", "description", "lat"]


@pytest.mark.parametrize(
    ("language", "top", "fields"),
    [
        (
            "en",
            "The input is not valid: category, description, lat.",
            {
                "category": "This field is required.",
                "description": "At most 4000 characters.",
                "lat": "Must be at most 90.",
            },
        ),
        (
            "zh-hans",
            "输入无效：category, description, lat。",
            {
                "category": "此项为必填项。",
                "description": "最多 4000 个字符。",
                "lat": "不能大于 90。",
            },
        ),
    ],
)
def test_validation_errors_read_in_one_language_top_and_fields(
    api: Api, language: str, top: str, fields: dict[str, str]
) -> None:
    # when
    response = api("resident").post(
        "/cases",
        json={"lat": 100, "lng": 116.4, "description": "x" * 4001},
        headers={"Accept-Language": language},
    )

    # then
    error = response.json()["error"]
    assert error["message"] == top
    assert {f["field"]: f["message"] for f in error["fields"]} == fields


def test_long_note_and_bad_page_size_are_refused(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)

    # when
    note = api("operator").post(f"/cases/{number}/accept", json={"note": "x" * 2001})
    page = api("operator").get("/cases", params={"page_size": 101})
    extension = api("clean_handler").post(
        f"/cases/{number}/extension-request", json={"extra_minutes": 0, "reason": "x"}
    )
    near = {"lat": api.world.inside_lat, "lng": api.world.inside_lng}
    unknown = api("resident").get("/cases/duplicates", params={"category": "Z1", **near})
    far = api("resident").get(
        "/cases/duplicates", params={"category": "E0101", "lat": 95, "lng": 0}
    )

    # then
    assert_error(note, 400, "invalid_input", field="note")
    assert_error(page, 400, "invalid_input", field="page_size")
    assert_error(extension, 400, "invalid_input", field="extra_minutes")
    assert_error(unknown, 400, "cases.unknown_category", field="category")
    assert_error(far, 400, "invalid_input", field="lat")
    assert snapshot(number) == before


def test_non_image_upload_is_415_and_nothing_changes(api: Api) -> None:
    # given
    number = dispatched_case(api)
    before = snapshot(number)
    files = [("photos", ("invoice.png", b"%PDF-1.4 not an image", "image/png"))]

    # when
    response = api("clean_handler").post(
        f"/cases/{number}/process", data={"note": "已清理"}, files=files
    )

    # then
    assert_error(response, 415, "cases.bad_photo", field="photos")
    assert snapshot(number) == before


def test_oversized_upload_is_413_and_nothing_changes(api: Api, settings: Any) -> None:
    # given: the live server runs in a thread of this process, so the override reaches it
    settings.CIVICGRID_PHOTO_MAX_BYTES = 64
    number = dispatched_case(api)
    before = snapshot(number)

    # when
    response = api("clean_handler").post(
        f"/cases/{number}/process", data={"note": "已清理"}, files=photo_files()
    )

    # then
    assert_error(response, 413, "cases.photo_too_large", field="photos")
    assert snapshot(number) == before


def test_missing_or_bad_credentials_are_401(api: Api) -> None:
    # given
    number = reported_case(api)
    before = snapshot(number)
    bad = httpx.Client(base_url=api.base_url, headers={"Authorization": "Bearer nope"})
    api.opened.append(bad)

    # when
    responses = [
        api(None).get("/cases"),
        api(None).get(f"/cases/{number}"),
        api(None).post(f"/cases/{number}/accept", json={}),
        api(None).post("/cases", json=submit_json(api.world)),
        bad.get("/cases"),
        bad.post(f"/cases/{number}/accept", json={}),
    ]

    # then
    for response in responses:
        assert_error(response, 401, "unauthenticated")
    assert snapshot(number) == before


def test_idempotency_key_returns_the_same_case(api: Api) -> None:
    # given
    resident = api("resident")
    headers = {"Idempotency-Key": "7d3c0b5e-retry"}
    first = resident.post("/cases", json=submit_json(api.world), headers=headers)
    counts = (Case.objects.count(), AuditRecord.objects.count())

    # when
    again = resident.post("/cases", json=submit_json(api.world), headers=headers)
    other_user = api("resident2").post("/cases", json=submit_json(api.world), headers=headers)

    # then
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["number"] == first.json()["number"]
    assert other_user.status_code == 201
    assert other_user.json()["number"] != first.json()["number"]
    assert Case.objects.count() == counts[0] + 1


# --------------------------------------------------------------------------- session auth


@pytest.fixture
def session_client(api: Api) -> Callable[[str], httpx.Client]:
    def make(username: str) -> httpx.Client:
        user = api.world.users[username]
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        assert session.session_key is not None
        client = httpx.Client(base_url=api.base_url, cookies={"sessionid": session.session_key})
        api.opened.append(client)
        return client

    return make


def test_session_auth_reads_and_needs_csrf_to_write(
    api: Api, session_client: Callable[[str], httpx.Client]
) -> None:
    # given
    number = reported_case(api)
    operator = session_client("operator")
    before = snapshot(number)
    csrf = "a" * 32

    # when
    listed = operator.get("/cases")
    forged = operator.post(f"/cases/{number}/accept", json={})
    unchanged = snapshot(number)
    operator.cookies.set("csrftoken", csrf)
    accepted = operator.post(f"/cases/{number}/accept", json={}, headers={"X-CSRFToken": csrf})

    # then
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert_error(forged, 403, "csrf_failed")
    assert unchanged == before
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"


# --------------------------------------------------------------------------- docs


def test_openapi_and_docs_are_served_offline(api: Api) -> None:
    # given
    anonymous = api(None)
    session = Client()
    session.force_login(api.world.users["resident"])
    logged_in = api(None)
    logged_in.cookies.set(
        settings.SESSION_COOKIE_NAME, session.cookies[settings.SESSION_COOKIE_NAME].value
    )

    # when
    schema = anonymous.get("/openapi.json")
    refused = anonymous.get("/docs")
    docs = logged_in.get("/docs")

    # then the schema is public, the docs page is for people with an account
    assert schema.status_code == 200
    assert "/api/v1/cases/{number}/process" in schema.json()["paths"]
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/accounts/login/?next=/api/v1/docs"
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "https://" not in docs.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert len(assets) == 4
    for url in assets:
        asset = anonymous.get(url.removeprefix(API))
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    assert anonymous.get("/docs/assets/..%2Fsettings.py").status_code == 404
