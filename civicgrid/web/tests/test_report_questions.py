"""The category's questions on the report form: the htmx partial, the form re-shown after an
error, answers stored through case_submit, and the answers on the case page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from civicgrid.cases.attributes import parse_attribute_definitions
from civicgrid.cases.categories import DEFAULT_CATEGORIES_PATH
from civicgrid.cases.models import Branch, Case, Category, Trace
from civicgrid.cases.tests.factories import World, build_world
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def packaged_questions(code: str) -> list[dict[str, Any]]:
    doc = json.loads(DEFAULT_CATEGORIES_PATH.read_text(encoding="utf-8"))
    raw = next(c["attributes"] for c in doc["categories"] if c["code"] == code)
    parsed, problems = parse_attribute_definitions(raw, code)
    assert problems == []
    return parsed


def add_question_categories(world: World) -> None:
    """G0501 household noise (a required multiple choice and a date-time) and E0403 gas leak
    (an informational line only) as in the packaged data; a hotline-only leaf for staff."""
    g = Category.objects.create(
        code="G", branch=Branch.GOVERNANCE, name="社区治理", name_en="Community governance"
    )
    g05 = Category.objects.create(
        code="G05", branch=Branch.GOVERNANCE, name="噪声与宠物", name_en="Noise and pets", parent=g
    )
    world.categories["noise"] = Category.objects.create(
        code="G0501",
        branch=Branch.GOVERNANCE,
        name="生活噪声",
        name_en="Household noise",
        parent=g05,
        attributes=packaged_questions("G0501"),
    )
    world.categories["gas"] = Category.objects.create(
        code="E0403",
        branch=Branch.EVENT,
        name="燃气泄漏",
        name_en="Gas leak",
        parent=world.categories["E01"],
        attributes=packaged_questions("E0403"),
    )
    world.categories["internal"] = Category.objects.create(
        code="E0199",
        branch=Branch.EVENT,
        name="内部",
        name_en="Internal",
        parent=world.categories["E01"],
        is_public=False,
        attributes=packaged_questions("G0102"),
    )


def client_for(world: World, username: str | None) -> Client:
    client = Client()
    if username is not None:
        client.force_login(world.users[username])
    return client


def world_with_questions() -> World:
    world = build_world()
    add_question_categories(world)
    return world


def snapshot() -> tuple[int, int, int]:
    return Case.objects.count(), Trace.objects.count(), AuditRecord.objects.count()


def report_data(world: World, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "G0501",
        "description": "楼上每天深夜装修",
        "lat": f"{world.inside_lat:.6f}",
        "lng": f"{world.inside_lng:.6f}",
        "urgency": "normal",
    }
    data.update(extra)
    return data


# --------------------------------------------------------------------------- the partial


def test_partial_shows_each_question_as_its_input() -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "resident").get("/report/questions/", {"category": "G0501"})

    # then
    assert response.status_code == 200
    text = response.text
    assert 'data-category="G0501"' in text
    assert "When does the noise usually happen?" in text
    assert text.count('type="checkbox" name="attribute[periods]"') == 4
    assert 'value="night"' in text and "Late night (after 22)" in text
    assert '<span class="required">(required)</span>' in text
    assert 'type="datetime-local" name="attribute[started_at]"' in text
    assert "Date and time, e.g. 2026-11-28T22:30:00+08:00" in text
    assert text.count("(required)") == 1


def test_partial_shows_an_informational_line_as_a_notice_without_an_input() -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "resident").get("/report/questions/", {"category": "E0403"})

    # then
    assert response.status_code == 200
    assert '<p class="notice" role="note" data-question="gas_warning">If you smell gas' in (
        response.text
    )
    assert "attribute[" not in response.text


def test_partial_renders_singles_numbers_strings_and_texts() -> None:
    # given
    world = world_with_questions()
    garbage = world.categories["garbage"]
    garbage.attributes = [
        *packaged_questions("E0406"),
        {**packaged_questions("C0118")[1], "order": 3},
        {**packaged_questions("G0102")[0], "order": 4},
    ]
    garbage.save()

    # when
    text = client_for(world, "operator").get("/report/questions/", {"category": "E0101"}).text

    # then
    assert '<select name="attribute[blocks_traffic]"' in text
    assert '<option value="pedestrians">Pedestrians cannot pass</option>' in text
    assert 'type="number" name="attribute[depth_cm]"' in text
    assert 'step="any"' in text
    assert 'type="text" name="attribute[pole_number]"' in text
    assert '<textarea name="attribute[tried]"' in text


@pytest.mark.parametrize("category", ["", "E0101", "NOPE", "E01", "E0199"])
def test_partial_is_empty_without_questions_or_for_a_category_the_resident_cannot_use(
    category: str,
) -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "resident").get("/report/questions/", {"category": category})

    # then
    assert response.status_code == 200
    assert response.text.strip() == ""


def test_partial_shows_non_public_questions_to_the_operator() -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "operator").get("/report/questions/", {"category": "E0199"})

    # then
    assert '<textarea name="attribute[tried]"' in response.text


def test_partial_is_for_reporting_roles_only() -> None:
    # given
    world = world_with_questions()

    # when
    anonymous = client_for(world, None).get("/report/questions/?category=G0501")
    dispatcher = client_for(world, "dispatcher").get("/report/questions/?category=G0501")

    # then
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/accounts/login/?next=/report/questions/%3Fcategory%3DG0501"
    assert dispatcher.status_code == 404


def test_report_page_loads_the_questions_with_htmx() -> None:
    # given
    world = world_with_questions()

    # when
    text = client_for(world, "resident").get("/report/").text

    # then
    assert 'hx-get="/report/questions/"' in text
    assert 'hx-trigger="change from:#id_category"' in text
    assert 'hx-include="#id_category"' in text
    assert "attribute[" not in text


# --------------------------------------------------------------------------- submitting


def test_report_with_good_answers_stores_them_cleaned() -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "resident").post(
        "/report/",
        report_data(
            world,
            **{
                "attribute[periods]": ["evening", "night"],
                "attribute[started_at]": "2026-11-28T22:30",
            },
        ),
    )

    # then
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.number}/"
    assert case.category.code == "G0501"
    assert case.attributes == {
        "periods": ["evening", "night"],
        "started_at": "2026-11-28T22:30:00+08:00",
    }


def test_report_without_the_required_answer_shows_the_error_next_to_it() -> None:
    # given
    world = world_with_questions()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/", report_data(world, **{"attribute[started_at]": "2026-11-28T22:30"})
    )

    # then
    assert response.status_code == 400
    assert snapshot() == before
    text = response.text
    assert 'data-category="G0501"' in text
    block = text[text.index('data-question="periods"') : text.index('data-question="started_at"')]
    assert "has-error" in text[text.index('data-question="periods"') - 60 :][:80]
    assert (
        "Answer periods (When does the noise usually happen?): it is required for this category."
        in block
    )
    assert 'value="2026-11-28T22:30"' in text  # the other answer is kept
    assert "楼上每天深夜装修" in text


@pytest.mark.parametrize(
    ("extra", "question", "message"),
    [
        (
            {"attribute[depth_cm]": "abc", "attribute[blocks_traffic]": "no"},
            "depth_cm",
            "depth_cm (About how deep is the water (cm)?) must be a number such as 3 or 2.5.",
        ),
        (
            {"attribute[blocks_traffic]": ""},
            "blocks_traffic",
            "Answer blocks_traffic (Does the water stop people or vehicles passing?): it is "
            "required for this category.",
        ),
    ],
)
def test_report_with_a_bad_answer_shows_the_service_error_and_saves_nothing(
    extra: dict[str, str], question: str, message: str
) -> None:
    # given
    world = world_with_questions()
    garbage = world.categories["garbage"]
    garbage.attributes = packaged_questions("E0406")
    garbage.save()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/", report_data(world, category="E0101", **extra)
    )

    # then
    assert response.status_code == 400
    assert snapshot() == before
    text = response.text
    start = text.index(f'data-question="{question}"')
    assert message in text[start : start + 2000]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"attribute[started_at]": "soon"}, "Enter a valid date/time."),
        (
            {"attribute[periods]": ["noon"]},
            "Select a valid choice. noon is not one of the available choices.",
        ),
    ],
)
def test_report_with_an_answer_the_form_cannot_read_saves_nothing(
    extra: dict[str, Any], message: str
) -> None:
    # given
    world = world_with_questions()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/", report_data(world, **{"attribute[periods]": ["night"], **extra})
    )

    # then
    assert response.status_code == 400
    assert message in response.text
    assert snapshot() == before


def test_answers_to_questions_of_another_category_are_ignored() -> None:
    # given
    world = world_with_questions()

    # when
    response = client_for(world, "resident").post(
        "/report/", report_data(world, category="E0101", **{"attribute[periods]": ["night"]})
    )

    # then
    assert response.status_code == 302
    assert Case.objects.get().attributes == {}


# --------------------------------------------------------------------------- the case page


@pytest.mark.parametrize("username", [None, "resident", "resident2", "operator"])
def test_case_page_shows_the_answers_to_everyone_who_sees_the_case(username: str | None) -> None:
    # given
    world = world_with_questions()
    client_for(world, "resident").post(
        "/report/",
        report_data(
            world,
            **{
                "attribute[periods]": ["morning", "night"],
                "attribute[started_at]": "2026-11-28T22:30",
            },
        ),
    )
    case = Case.objects.get()

    # when
    response = client_for(world, username).get(f"/cases/{case.number}/")

    # then
    assert response.status_code == 200
    assert (
        "<dt>When does the noise usually happen?</dt><dd>Morning (6-9), Late night (after 22)</dd>"
        in response.text
    )
    assert "<dt>When did it last start?</dt><dd>2026-11-28 22:30</dd>" in response.text


def test_case_page_shows_answers_in_chinese_with_the_chinese_labels() -> None:
    # given
    world = world_with_questions()
    client = client_for(world, "resident")
    client.post("/report/", report_data(world, **{"attribute[periods]": ["night"]}), follow=False)
    case = Case.objects.get()
    client.cookies.load({"django_language": "zh-hans"})

    # when
    response = client.get(f"/cases/{case.number}/", headers={"Accept-Language": "zh-hans"})

    # then
    assert "<dt>噪声通常出现在什么时段？</dt><dd>深夜（22 点后）</dd>" in response.text


def test_case_page_without_answers_has_no_answers_section() -> None:
    # given
    world = world_with_questions()
    client = client_for(world, "resident")
    client.post("/report/", report_data(world, category="E0101"))
    case = Case.objects.get()

    # when
    response = client.get(f"/cases/{case.number}/")

    # then
    assert "Answers to the category" not in response.text
