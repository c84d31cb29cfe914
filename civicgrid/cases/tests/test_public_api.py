"""The public data API over real HTTP (no login), and category questions in submissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.utils import translation

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases import services as s
from civicgrid.cases.attributes import parse_attribute_definitions
from civicgrid.cases.models import Action, Branch, Case, Category, Source
from civicgrid.cases.tests.factories import World, build_world, photo, submit
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Beijing
DAY = dt.timedelta(days=1)
# Centres of cells 001 (north-west) of the community and 005 of the neighbouring community.
NORTH_WEST = {"lat": 39.9275, "lng": 116.4515}
NEIGHBOUR = {"lat": 39.9245, "lng": 116.4635}


@pytest.fixture
def world(transactional_db: None) -> World:
    return build_world(second_community=True)


@pytest.fixture
def public(live_server: Any, world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server.url}{API}/public", timeout=30) as client:
        yield client


@pytest.fixture
def as_user(live_server: Any, world: World) -> Iterator[Any]:
    opened: list[httpx.Client] = []

    def make(username: str) -> httpx.Client:
        raw = api_token_issue(actor=None, user=world.users[username], name="tests")[1]
        client = httpx.Client(
            base_url=f"{live_server.url}{API}",
            headers={"Authorization": f"Bearer {raw}"},
            timeout=30,
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def dispatched(world: World, case: Case, note: str = "") -> Case:
    s.case_accept(actor=world.users["operator"], case=case, note=note)
    s.case_file(actor=world.users["shift_leader"], case=case)
    return s.case_dispatch(actor=world.users["dispatcher"], case=case)


def closed_on_the_spot(world: World, case: Case) -> Case:
    return s.case_self_handle(
        actor=world.users["grid_worker"],
        case=case,
        note="顺手清理了",
        before=[photo()],
        after=[photo()],
    )


def hidden_category(world: World) -> Category:
    return Category.objects.create(
        code="E0102",
        branch=Branch.EVENT,
        name="内部巡查",
        name_en="Internal patrol",
        parent=world.categories["E01"],
        is_public=False,
    )


def numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def assert_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error.get("field") == field


# --------------------------------------------------------------------------- the list


def test_the_list_is_the_public_projection_newest_first(world: World, public: httpx.Client) -> None:
    # given
    older = submit(world, reported_at=T0)
    newer = submit(
        world,
        category=world.categories["light"],
        description="路灯不亮",
        lat=39.924561,
        lng=116.454487,
        reported_at=T0 + DAY,
    )

    # when
    response = public.get("/cases")

    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["count"], body["page"], body["page_size"]) == (2, 1, 20)
    assert numbers(response) == [newer.number, older.number]
    assert body["items"][0] == {
        "number": newer.number,
        "status": "reported",
        "state": "open",
        "category": {"code": "C0102", "name": "Street light"},
        "description": "路灯不亮",
        "reported_at": "2026-03-03T01:00:00Z",
        "updated_at": "2026-03-03T01:00:00Z",
        "closed_at": None,
        "lat": 39.92456,
        "lng": 116.45449,
        "cell_code": "110105001001005",
        "agency": None,
        "follower_count": 0,
        "attributes": {},
    }


def test_the_agency_and_category_follow_the_request_language(
    world: World, public: httpx.Client
) -> None:
    # given
    case = dispatched(world, submit(world, category=world.categories["light"]))

    # when
    english = public.get("/cases", headers={"Accept-Language": "en"}).json()["items"][0]
    chinese = public.get("/cases", headers={"Accept-Language": "zh-hans"}).json()["items"][0]

    # then
    assert english["number"] == chinese["number"] == case.number
    assert (english["agency"], english["category"]["name"]) == ("lights-co", "Street light")
    assert (chinese["agency"], chinese["category"]["name"]) == ("明亮路灯公司", "路灯")
    assert english["status"] == "dispatched"
    assert english["state"] == "open"


def test_personal_data_never_leaves_through_a_public_endpoint(
    world: World, public: httpx.Client
) -> None:
    # given: a hotline report with the caller's name, phone, email and home address, staff
    # notes on its steps, and a resident's own report (their account's phone is filled in)
    hotline = s.case_submit(
        actor=world.users["operator"],
        category=world.categories["garbage"],
        description="楼下垃圾堆了三天",
        lat=world.inside_lat,
        lng=world.inside_lng,
        address="幸福路8号3单元502",
        source=Source.HOTLINE,
        reporter_name="王小明",
        reporter_phone="13912345678",
        reporter_email="wang.xiaoming@example.com",
    ).case
    dispatched(world, hotline, note="电话核实过")
    own = submit(world, is_anonymous=True)
    secrets = [
        "王小明",
        "13912345678",
        "wang.xiaoming",
        "example.com",
        "幸福路",
        "电话核实过",
        "13800138000",  # the resident's phone
        "operator",
        "shift_leader",
        "dispatcher",
        "reporter",
        "resident",
        "note",
        "address",
    ]

    # when
    texts = [
        public.get("/cases", headers={"Accept-Language": language}).text
        for language in ("en", "zh-hans")
    ]
    texts += [public.get(f"/cases/{number}").text for number in (hotline.number, own.number)]
    texts += [public.get("/categories").text, public.get("/cases", params={"state": "open"}).text]

    # then
    assert '"number"' in texts[0] and hotline.number in texts[0] and own.number in texts[0]
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


def test_anonymous_reports_show_their_point_rounded_to_three_decimals(
    world: World, public: httpx.Client
) -> None:
    # given
    point = {"lat": 39.924561, "lng": 116.454487}
    anonymous = submit(world, is_anonymous=True, **point)
    named = submit(world, **point)

    # when
    listed = {i["number"]: (i["lat"], i["lng"]) for i in public.get("/cases").json()["items"]}
    detail = public.get(f"/cases/{anonymous.number}").json()

    # then
    assert listed == {anonymous.number: (39.925, 116.454), named.number: (39.92456, 116.45449)}
    assert (detail["lat"], detail["lng"]) == (39.925, 116.454)


def test_the_bounding_box_filters_on_the_public_point(world: World, public: httpx.Client) -> None:
    # given: both at the same exact point; the anonymous one is shown at (39.925, 116.454)
    point = {"lat": 39.92451, "lng": 116.45449}
    anonymous = submit(world, is_anonymous=True, **point)
    named = submit(world, **point)

    # when
    # holds the public point of the anonymous case, not the exact one
    around_public = public.get("/cases", params={"bbox": "116.4540,39.9246,116.4550,39.9260"})
    # holds the exact point, not the anonymous case's public point
    around_exact = public.get("/cases", params={"bbox": "116.4540,39.9240,116.4550,39.9248"})
    everywhere = public.get("/cases", params={"bbox": "-180,-90,180,90"})
    elsewhere = public.get("/cases", params={"bbox": "0,0,1,1"})

    # then
    assert numbers(around_public) == [anonymous.number]
    assert numbers(around_exact) == [named.number]
    assert sorted(numbers(everywhere)) == sorted([anonymous.number, named.number])
    assert numbers(elsewhere) == []


def test_each_filter_narrows_the_list(world: World, public: httpx.Client) -> None:
    # given
    rubbish = submit(world, reported_at=T0)
    light = dispatched(
        world, submit(world, category=world.categories["light"], reported_at=T0 + DAY)
    )
    manhole = submit(
        world, category=world.categories["manhole"], reported_at=T0 + 2 * DAY, **NEIGHBOUR
    )
    fixed = closed_on_the_spot(world, submit(world, reported_at=T0 + 3 * DAY, **NORTH_WEST))
    expected: list[tuple[dict[str, str], list[Case]]] = [
        ({}, [fixed, manhole, light, rubbish]),
        ({"state": "open"}, [manhole, light, rubbish]),
        ({"state": "closed"}, [fixed]),
        ({"status": "dispatched"}, [light]),
        ({"status": "closed"}, [fixed]),
        ({"status": "evaluated"}, []),
        ({"category": "E0101"}, [fixed, rubbish]),
        ({"category": "C0102"}, [light]),
        ({"category": "C01"}, [manhole, light]),
        ({"category": "C"}, [manhole, light]),
        ({"category": "E"}, [fixed, rubbish]),
        ({"category": "G"}, []),
        ({"area": "110105"}, [fixed, manhole, light, rubbish]),
        ({"area": "110105001"}, [fixed, manhole, light, rubbish]),
        ({"area": "110105001001"}, [fixed, light, rubbish]),
        ({"area": "110105001002"}, [manhole]),
        ({"area": "110105001001005"}, [light, rubbish]),
        ({"area": "110105001001001"}, [fixed]),
        ({"since": "2026-03-03T01:00:00Z"}, [fixed, manhole, light]),
        ({"until": "2026-03-03T09:00:00+08:00"}, [light, rubbish]),
        ({"since": "2026-03-03T01:00:00Z", "until": "2026-03-03T01:00:00Z"}, [light]),
        ({"state": "open", "category": "E"}, [rubbish]),
        ({"state": "open", "area": "110105001001", "since": "2026-03-02T12:00:00Z"}, [light]),
    ]

    # when
    seen = [(params, numbers(public.get("/cases", params=params))) for params, _ in expected]
    # a '+' not percent-encoded reaches the server as a space; it is read as the '+'
    raw_plus = public.get("/cases?since=2026-03-04T09:00:00+08:00")

    # then
    assert seen == [(params, [c.number for c in cases]) for params, cases in expected]
    assert numbers(raw_plus) == [fixed.number, manhole.number]


def test_pages_split_the_list_without_overlap(world: World, public: httpx.Client) -> None:
    # given: five cases, two of them reported at the same moment
    cases = [submit(world, reported_at=T0 + i * DAY) for i in range(4)]
    cases.append(submit(world, reported_at=T0 + 3 * DAY))
    newest_first = [cases[4], cases[3], cases[2], cases[1], cases[0]]

    # when
    pages = [public.get("/cases", params={"page": p, "page_size": 2}) for p in (1, 2, 3, 4)]

    # then
    assert [numbers(p) for p in pages] == [
        [c.number for c in newest_first[0:2]],
        [c.number for c in newest_first[2:4]],
        [newest_first[4].number],
        [],
    ]
    assert {(p.json()["count"], p.json()["page_size"]) for p in pages} == {(5, 2)}
    assert [p.json()["page"] for p in pages] == [1, 2, 3, 4]


def test_cancelled_and_non_public_cases_are_absent(world: World, public: httpx.Client) -> None:
    # given
    shown = submit(world)
    cancelled = s.case_cancel(
        actor=world.users["operator"], case=submit(world), reason="invalid", note="测试"
    )
    internal = s.case_submit(
        actor=world.users["grid_worker"],
        category=hidden_category(world),
        description="巡查记录",
        lat=world.inside_lat,
        lng=world.inside_lng,
        source=Source.PATROL,
    ).case

    # when
    listed = public.get("/cases")
    by_category = public.get("/cases", params={"category": "E01"})
    details = [public.get(f"/cases/{c.number}") for c in (cancelled, internal)]
    unknown = [public.get(f"/cases/{ref}") for ref in ("209901010001", "x1", str(shown.pk))]

    # then
    assert numbers(listed) == [shown.number]
    assert listed.json()["count"] == 1
    assert numbers(by_category) == [shown.number]
    for response in details + unknown:
        assert_error(response, 404, "cases.not_found", None)


BAD_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"state": "pending"}, "state"),
    ({"status": "lost"}, "status"),
    ({"category": "e01"}, "category"),
    ({"category": "E0"}, "category"),
    ({"category": "E" + "01" * 10}, "category"),
    ({"area": "11010"}, "area"),
    ({"area": "1101050010010011"}, "area"),
    ({"area": "11010500100a"}, "area"),
    ({"since": "2026-03-02T09:00:00"}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-02-30T00:00:00Z"}, "until"),
    ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
    ({"since": "9999-12-31T23:59:59-14:00"}, "since"),
    ({"bbox": "116.4,39.9,116.5"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "116.5,39.9,116.4,40.0"}, "bbox"),
    ({"bbox": "116.4,40.0,116.5,39.9"}, "bbox"),
    ({"bbox": "181,0,182,1"}, "bbox"),
    ({"bbox": "0,-91,1,1"}, "bbox"),
    ({"bbox": "1," * 60 + "1"}, "bbox"),
    ({"category": "E01\x00"}, "category"),
    ({"page": 0}, "page"),
    ({"page": "two"}, "page"),
    ({"page_size": 0}, "page_size"),
    ({"page_size": 101}, "page_size"),
]


@pytest.mark.parametrize(("params", "field"), BAD_FILTERS)
def test_bad_filters_are_400_naming_the_field(
    world: World, public: httpx.Client, params: dict[str, Any], field: str
) -> None:
    # given
    submit(world)

    # when
    response = public.get("/cases", params=params)

    # then
    assert_error(response, 400, "invalid_input", field)


# --------------------------------------------------------------------------- one case


def test_one_case_with_its_public_timeline(world: World, public: httpx.Client) -> None:
    # given
    case = dispatched(world, submit(world, category=world.categories["light"]), note="已电话核实")
    with translation.override("zh-hans"):
        chinese_labels = [
            str(a.label) for a in (Action.SUBMIT, Action.ACCEPT, Action.FILE, Action.DISPATCH)
        ]

    # when
    english = public.get(f"/cases/{case.number}", headers={"Accept-Language": "en"})
    chinese = public.get(f"/cases/{case.number}", headers={"Accept-Language": "zh-hans"})

    # then
    assert english.status_code == 200, english.text
    body = english.json()
    assert body["number"] == case.number
    assert body["state"] == "open"
    assert body["agency"] == "lights-co"
    timeline = body["timeline"]
    assert [set(t) for t in timeline] == [{"at", "action", "label", "status_after", "agency"}] * 4
    assert [(t["action"], t["label"], t["status_after"], t["agency"]) for t in timeline] == [
        ("submit", "Reported", "reported", None),
        ("accept", "Accepted", "accepted", None),
        ("file", "Filed", "filed", None),
        ("dispatch", "Dispatched", "dispatched", "lights-co"),
    ]
    assert timeline[0]["at"] == body["reported_at"]
    assert [t["label"] for t in chinese.json()["timeline"]] == chinese_labels
    assert chinese.json()["timeline"][3]["agency"] == "明亮路灯公司"


def test_a_closed_case_is_closed_with_its_time(world: World, public: httpx.Client) -> None:
    # given
    case = closed_on_the_spot(world, submit(world))

    # when
    body = public.get(f"/cases/{case.number}").json()

    # then
    assert (body["status"], body["state"]) == ("closed", "closed")
    assert body["closed_at"] is not None
    assert [t["action"] for t in body["timeline"]] == ["submit", "self_handle"]


# --------------------------------------------------------------------------- categories


QUESTIONS = [
    {
        "code": "pile_size",
        "datatype": "singlevaluelist",
        "required": True,
        "description": "垃圾有多少",
        "description_en": "How much rubbish is there",
        "datatype_description": "选一项",
        "datatype_description_en": "Choose one",
        "values": [
            {"key": "small", "name": "少量", "name_en": "A little"},
            {"key": "large", "name": "大量", "name_en": "A lot"},
        ],
    },
    {"code": "bags", "datatype": "number", "description": "几袋", "description_en": "Bags"},
    {"code": "notice", "datatype": "string", "variable": False, "description": "请勿焚烧"},
]


def ask_questions(world: World) -> None:
    garbage = world.categories["garbage"]
    garbage.attributes, problems = parse_attribute_definitions(QUESTIONS, "attributes")
    assert problems == []
    garbage.save()


def test_categories_list_the_public_leaves_with_their_questions(
    world: World, public: httpx.Client
) -> None:
    # given
    ask_questions(world)
    hidden_category(world)

    # when
    english = public.get("/categories", headers={"Accept-Language": "en"})
    chinese = public.get("/categories", headers={"Accept-Language": "zh-hans"})

    # then
    assert english.status_code == 200, english.text
    assert [c["code"] for c in english.json()] == ["C0101", "C0102", "E0101"]
    light, garbage = english.json()[1], english.json()[2]
    assert light == {
        "code": "C0102",
        "name": "路灯",
        "name_en": "Street light",
        "branch": "component",
        "parent_code": "C01",
        "path": [
            {"code": "C", "name": "部件", "name_en": "Components"},
            {"code": "C01", "name": "公用设施", "name_en": "Public utilities"},
        ],
        "attributes": [],
    }
    assert garbage["attributes"] == [
        {
            "code": "pile_size",
            "datatype": "singlevaluelist",
            "required": True,
            "variable": True,
            "order": 1,
            "description": "How much rubbish is there",
            "datatype_description": "Choose one",
            "values": [{"key": "small", "name": "A little"}, {"key": "large", "name": "A lot"}],
        },
        {
            "code": "bags",
            "datatype": "number",
            "required": False,
            "variable": True,
            "order": 2,
            "description": "Bags",
            "datatype_description": "",
            "values": [],
        },
        {
            "code": "notice",
            "datatype": "string",
            "required": False,
            "variable": False,
            "order": 3,
            "description": "请勿焚烧",  # no English text: the Chinese one
            "datatype_description": "",
            "values": [],
        },
    ]
    chinese_garbage = chinese.json()[2]["attributes"]
    assert [(a["description"], a["datatype_description"]) for a in chinese_garbage] == [
        ("垃圾有多少", "选一项"),
        ("几袋", ""),
        ("请勿焚烧", ""),
    ]
    assert [v["name"] for v in chinese_garbage[0]["values"]] == ["少量", "大量"]


# --------------------------------------------------------------------------- query counts


def test_public_reads_run_a_fixed_number_of_queries(
    world: World, client: Any, django_assert_num_queries: Any
) -> None:
    # given: the Django test client, so the queries run on this thread's connection
    cases = [submit(world, reported_at=T0 + i * DAY) for i in range(6)]
    for case in cases[:3]:
        dispatched(world, case, note="核实")
    ask_questions(world)

    # when / then: the page and its count, whatever the page holds
    with django_assert_num_queries(2):
        listed = client.get(f"{API}/public/cases", {"page_size": 100})
    with django_assert_num_queries(2):
        filtered = client.get(
            f"{API}/public/cases",
            {"category": "E", "area": "110105001001", "bbox": "116,39,117,40", "state": "open"},
        )
    # the case, then its trace rows with their units
    with django_assert_num_queries(2):
        detail = client.get(f"{API}/public/cases/{cases[0].number}")
    with django_assert_num_queries(1):
        categories = client.get(f"{API}/public/categories")

    assert listed.status_code == 200
    assert listed.json()["count"] == 6
    assert filtered.json()["count"] == 6
    assert len(detail.json()["timeline"]) == 4
    assert len(categories.json()) == 3


# --------------------------------------------------------------------------- the authenticated API


def submission(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "E0101",
        "description": "小区门口有一堆垃圾没人清理",
        "lat": world.inside_lat,
        "lng": world.inside_lng,
    }
    body.update(overrides)
    return body


def test_answers_to_the_categorys_questions_are_kept_and_shown(
    world: World, as_user: Any, public: httpx.Client
) -> None:
    # given
    ask_questions(world)
    resident = as_user("resident")

    # when
    created = resident.post(
        "/cases", json=submission(world, attributes={"pile_size": "large", "bags": "3"})
    )
    number = created.json()["number"]
    detail = resident.get(f"/cases/{number}")
    listed = resident.get("/cases")
    public_view = public.get(f"/cases/{number}")

    # then
    assert created.status_code == 201, created.text
    assert created.json()["attributes"] == {"pile_size": "large", "bags": 3}
    assert Case.objects.get(number=number).attributes == {"pile_size": "large", "bags": 3}
    assert detail.json()["attributes"] == {"pile_size": "large", "bags": 3}
    assert listed.json()["items"][0]["attributes"] == {"pile_size": "large", "bags": 3}
    assert public_view.json()["attributes"] == {"pile_size": "large", "bags": 3}


BAD_ANSWERS: list[tuple[dict[str, Any], str, str]] = [
    ({}, "cases.bad_attribute", "attributes.pile_size"),
    ({"bags": 2}, "cases.bad_attribute", "attributes.pile_size"),
    ({"pile_size": "   "}, "cases.bad_attribute", "attributes.pile_size"),
    ({"pile_size": "huge"}, "cases.bad_attribute", "attributes.pile_size"),
    ({"pile_size": ["small", "large"]}, "cases.bad_attribute", "attributes.pile_size"),
    ({"pile_size": "small", "bags": "many"}, "cases.bad_attribute", "attributes.bags"),
    ({"pile_size": "small", "colour": "red"}, "cases.bad_attribute", "attributes.colour"),
    ({"pile_size": "small", "notice": "ok"}, "cases.bad_attribute", "attributes.notice"),
    ({"pile_size": {"size": "small"}}, "invalid_input", "attributes.pile_size.str"),
]


def test_bad_answers_are_refused_naming_the_question_and_create_nothing(
    world: World, as_user: Any
) -> None:
    # given
    ask_questions(world)
    resident = as_user("resident")
    counts = (Case.objects.count(), AuditRecord.objects.count())

    # when
    responses = [
        resident.post("/cases", json=submission(world, attributes=answers))
        for answers, _, _ in BAD_ANSWERS
    ]
    not_a_dict = resident.post("/cases", json=submission(world, attributes=["small"]))

    # then
    for response, (answers, code, field) in zip(responses, BAD_ANSWERS, strict=True):
        assert response.status_code == 400, (answers, response.text)
        error = response.json()["error"]
        assert (answers, error["code"], error["field"]) == (answers, code, field)
    assert_error(not_a_dict, 400, "invalid_input", "attributes")
    assert (Case.objects.count(), AuditRecord.objects.count()) == counts


def test_the_reporters_email_is_masked_like_the_phone(world: World, as_user: Any) -> None:
    # given
    case = s.case_submit(
        actor=world.users["operator"],
        category=world.categories["garbage"],
        description="楼下垃圾堆了三天",
        lat=world.inside_lat,
        lng=world.inside_lng,
        source=Source.HOTLINE,
        reporter_name="王小明",
        reporter_phone="13912345678",
        reporter_email="wang.xiaoming@example.com",
    ).case

    # when
    seen = {
        user: as_user(user).get(f"/cases/{case.number}").json()["reporter"]
        for user in ("operator", "grid_worker")
    }

    # then
    assert seen == {
        "operator": {
            "name": "王小明",
            "phone": "13912345678",
            "email": "wang.xiaoming@example.com",
            "is_masked": False,
        },
        "grid_worker": {
            "name": "王**",
            "phone": "139****5678",
            "email": "w***@example.com",
            "is_masked": True,
        },
    }


def test_the_nul_character_is_refused_in_every_kind_of_input(world: World, as_user: Any) -> None:
    # given: PostgreSQL cannot store it; both databases answer alike
    number = submit(world).number
    operator, resident, grid_worker = (as_user(u) for u in ("operator", "resident", "grid_worker"))
    counts = (Case.objects.count(), AuditRecord.objects.count())

    # when
    body = resident.post("/cases", json=submission(world, description="垃圾\x00"))
    answers = resident.post("/cases", json=submission(world, attributes={"pile\x00": "x"}))
    query = operator.get("/cases", params={"unit": "clean-co\x00"})
    form = grid_worker.post(f"/cases/{number}/verify", data={"note": "看过\x00"})
    accepted = operator.post(f"/cases/{number}/accept", json={"note": "\x00"})

    # then
    assert_error(body, 400, "invalid_input", "description")
    assert_error(answers, 400, "invalid_input", "attributes.pile\\0")
    assert_error(query, 400, "invalid_input", "unit")
    assert_error(form, 400, "invalid_input", "note")
    assert_error(accepted, 400, "invalid_input", "note")
    assert (Case.objects.count(), AuditRecord.objects.count()) == counts
    assert Case.objects.get(number=number).status == "reported"
