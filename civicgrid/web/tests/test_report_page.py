"""The report page: three steps in page order, every error of a submission at once next to its
field with a summary at the top, what the user typed kept, the category field as a grouped
<select> the picker enhances, and a bounded number of queries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from civicgrid.cases.categories import load_default_categories
from civicgrid.cases.common_problems import common_problems
from civicgrid.cases.models import Case, CasePhoto, Trace
from civicgrid.cases.tests.factories import World, build_world
from civicgrid.core.models import AuditRecord

from .test_report_questions import add_question_categories

pytestmark = pytest.mark.django_db

SPRITE = Path(__file__).resolve().parents[1] / "static" / "web" / "icons" / "problems.svg"


def client_for(world: World, username: str) -> Client:
    client = Client()
    client.force_login(world.users[username])
    return client


def snapshot() -> tuple[int, int, int, int]:
    return (
        Case.objects.count(),
        Trace.objects.count(),
        AuditRecord.objects.count(),
        CasePhoto.objects.count(),
    )


def good_data(world: World, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "E0101",
        "description": "楼下垃圾堆了三天",
        "lat": f"{world.inside_lat:.6f}",
        "lng": f"{world.inside_lng:.6f}",
        "address": "",
        "urgency": "normal",
    }
    data.update(changes)
    return data


def block(text: str, start_marker: str, end_marker: str) -> str:
    """The HTML from ``start_marker`` up to the next ``end_marker``."""
    start = text.index(start_marker)
    return text[start : text.index(end_marker, start + len(start_marker))]


def field_block(text: str, dom_id: str) -> str:
    """The ``<div class="field">`` holding the element with this id."""
    at = text.index(f'id="{dom_id}"')
    start = text.rindex('<div class="field', 0, at)
    ends = [text.find(m, at) for m in ('<div class="field', "</fieldset>")]
    return text[start : min(e for e in ends if e > 0)]


def where_fieldset(text: str) -> str:
    return block(text, '<fieldset class="step step-where', "</fieldset>")


def summary_links(text: str) -> list[tuple[str, str]]:
    summary = block(text, 'class="error-summary"', "</div>")
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)


# --------------------------------------------------------------------------- steps and fields


def test_the_steps_come_in_page_order_where_what_details() -> None:
    # given
    world = build_world()

    # when
    text = client_for(world, "resident").get("/report/").text

    # then
    where = text.index('id="where"')
    what = text.index('id="what"')
    details = text.index('id="details"')
    assert where < text.index('id="report-map"') < what
    assert what < text.index('id="id_category"') < details
    assert details < text.index('id="id_description"') < text.index('id="id_photos"')
    assert re.findall(
        r'<span class="step-no" aria-hidden="true">(\d)</span> ([^<]+)</legend>', text
    ) == [
        ("1", "Where is it?"),
        ("2", "What is the problem?"),
        ("3", "Details"),
    ]
    assert "/static/web/report.css" in text
    assert "/static/web/category-picker.js" in text
    assert 'class="error-summary"' not in text


def test_the_category_is_a_select_grouped_by_parent_in_the_readers_language() -> None:
    # given
    world = build_world()
    client = client_for(world, "resident")

    # when
    english = client.get("/report/").text
    chinese = client.get("/report/", headers={"accept-language": "zh-hans"}).text

    # then
    select = block(english, '<select name="category"', "</select>")
    assert re.findall(r'<optgroup label="([^"]+)">', select) == ["Public utilities", "Environment"]
    assert re.findall(r'<option value="([^"]*)"', select) == ["", "C0101", "C0102", "E0101"]
    assert (
        '<option value="C0101" data-search="污水井盖 sewage manhole cover c0101 公用设施 public '
        'utilities">Sewage manhole cover</option>'
    ) in select
    zh_select = block(chinese, '<select name="category"', "</select>")
    assert re.findall(r'<optgroup label="([^"]+)">', zh_select) == ["公用设施", "市容环境"]
    assert ">路灯</option>" in zh_select


def test_parents_with_the_same_name_are_told_apart_by_their_root() -> None:
    # given the packaged tree: 市容环境 is a component class (C03) and an event class (E01)
    world = build_world()
    load_default_categories()

    # when
    text = client_for(world, "resident").get("/report/", headers={"accept-language": "zh-hans"})

    # then
    labels = re.findall(r'<optgroup label="([^"]+)">', text.text)
    assert "部件 · 市容环境" in labels
    assert "事件 · 市容环境" in labels
    assert "公用设施" in labels
    assert "热线内部" not in labels  # staff-only hotline leaves are not offered to residents
    assert len(re.findall(r'<option value="[A-Z]\d{4}"', text.text)) == 133


def test_the_common_problems_are_buttons_in_plain_words_with_icons() -> None:
    # given
    world = build_world()
    load_default_categories()
    client = client_for(world, "resident")

    # when
    english = client.get("/report/").text
    chinese = client.get("/report/", headers={"accept-language": "zh-hans"}).text

    # then
    buttons = re.findall(
        r'<button type="button" class="problem" data-code="(\w+)" aria-pressed="false">'
        r'<svg class="icon" aria-hidden="true" focusable="false">'
        r'<use href="/static/web/icons/problems.svg#([\w-]+)"></use></svg><span>([^<]+)</span>',
        english,
    )
    assert buttons[:3] == [
        ("C0118", "light", "Street light broken"),
        ("G0602", "rubbish", "Rubbish not collected"),
        ("G0201", "fire-lane", "Blocked fire lane"),
    ]
    assert len(buttons) == 12
    assert "<span>路灯不亮</span>" in chinese
    assert "<span>垃圾未清运</span>" in chinese
    assert 'data-plain="Street light broken">Street light</option>' in english


def test_every_common_problem_icon_is_drawn_in_our_sprite() -> None:
    # given
    sprite = SPRITE.read_text(encoding="utf-8")
    symbols = set(re.findall(r'<symbol id="([\w-]+)"', sprite))

    # then
    assert {p.icon for p in common_problems()} <= symbols
    assert "<script" not in sprite
    assert "http://www.w3.org/2000/svg" in sprite
    assert "href=" not in sprite  # self-contained: nothing fetched from elsewhere


def test_the_page_reads_the_category_tree_in_one_query(django_assert_num_queries) -> None:
    # given the packaged tree (133 public leaves)
    world = build_world()
    load_default_categories()
    client = client_for(world, "resident")
    client.get("/report/")  # warm the grid index and the common-problems file

    # when / then: session, user, the leaves with their parents and roots
    with django_assert_num_queries(3):
        response = client.get("/report/")
    assert response.status_code == 200


def test_a_refused_report_renders_in_a_bounded_number_of_queries(
    django_assert_num_queries,
) -> None:
    # given
    world = build_world()
    load_default_categories()
    client = client_for(world, "resident")
    client.post("/report/", {"description": "x"})

    # when / then: session, user, the category tree; no query per category or per field
    with django_assert_num_queries(3):
        response = client.post("/report/", {"description": "x", "urgency": "normal"})
    assert response.status_code == 400


# --------------------------------------------------------------------------- errors at once


def test_no_category_no_description_no_point_shows_the_three_errors_at_once() -> None:
    # given
    world = build_world()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/", {"urgency": "pressing", "is_anonymous": "on", "description": "  "}
    )

    # then
    assert response.status_code == 400
    assert snapshot() == before
    text = response.text
    assert summary_links(text) == [
        ("where", "Mark the place on the map or give an address."),
        ("id_category", "Choose what the problem is."),
        ("id_description", "Describe the problem in a few words."),
    ]
    assert '<h2 id="error-summary-title">There are 3 problems</h2>' in text
    assert 'role="alert" tabindex="-1" autofocus' in text
    assert (
        '<div class="error-message" id="id_location_error"><p class="error">'
        "Mark the place on the map or give an address.</p></div>"
    ) in where_fieldset(text)
    category = block(text, 'id="category-picker"', '<div id="questions"')
    assert (
        '<div class="error-message" id="id_category_error"><p class="error">'
        "Choose what the problem is.</p></div>"
    ) in category
    description = field_block(text, "id_description")
    assert (
        '<div class="error-message" id="id_description_error"><p class="error">'
        "Describe the problem in a few words.</p></div>"
    ) in description
    # each invalid input says so and points at its message
    assert 'aria-invalid="true" aria-describedby="id_category_error" id="id_category"' in text
    assert (
        'aria-invalid="true" aria-describedby="id_description_helptext id_description_error" '
        'id="id_description"'
    ) in description
    assert 'aria-describedby="id_location_error"' in where_fieldset(text)
    assert 'aria-describedby="id_address_helptext id_location_error" id="id_address"' in text
    # what the user chose is kept
    assert '<option value="pressing" selected>' in text
    assert 'id="id_is_anonymous" checked' in text
    # the photo cannot be: the field says so
    assert "A browser cannot keep photos when the form comes back" in field_block(text, "id_photos")
    # the inline errors are not alerts each: the summary is
    assert text.count('role="alert"') == 1


def test_only_the_point_missing_shows_the_location_error_in_the_where_fieldset() -> None:
    # given a category with questions, answered
    world = build_world()
    add_question_categories(world)
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/",
        good_data(
            world,
            category="G0501",
            lat="",
            lng="",
            description="楼上每天深夜装修",
            urgency="urgent",
            **{"attribute[periods]": ["night"], "attribute[started_at]": "2026-11-28T22:30"},
        ),
    )

    # then
    assert response.status_code == 400
    assert snapshot() == before
    text = response.text
    assert summary_links(text) == [("where", "Mark the place on the map or give an address.")]
    assert "Mark the place on the map or give an address." in where_fieldset(text)
    assert text.count("Mark the place on the map or give an address.") == 2  # summary + inline
    # everything typed comes back
    assert "楼上每天深夜装修</textarea>" in text
    assert '<option value="G0501" selected data-search=' in text
    assert '<option value="urgent" selected>' in text
    assert 'value="night"' in block(text, 'data-question="periods"', "</fieldset>")
    assert re.search(r'value="night"[^>]*checked', text)
    assert 'value="2026-11-28T22:30"' in text


def test_a_point_is_kept_when_other_fields_are_wrong() -> None:
    # given
    world = build_world()

    # when
    response = client_for(world, "resident").post(
        "/report/", good_data(world, category="", description="")
    )

    # then
    assert response.status_code == 400
    text = response.text
    assert [target for target, _message in summary_links(text)] == ["id_category", "id_description"]
    assert f'data-lat="{world.inside_lat:.6f}" data-lng="{world.inside_lng:.6f}"' in text
    assert f'value="{world.inside_lat:.6f}"' in text
    assert "id_location_error" not in text


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        (
            {"description": "长" * 4001},
            "id_description",
            "Ensure this value has at most 4000 characters (it has 4001).",
        ),
        (
            {"category": "ZZ999"},
            "id_category",
            "Choose a problem from the list: that one is not on it.",
        ),
        (
            {"category": "C0101\x00"},
            "id_category",
            "Choose a problem from the list: that one is not on it.",
        ),
        (
            {"urgency": "soon"},
            "id_urgency",
            "Select a valid choice. soon is not one of the available choices.",
        ),
        ({"description": "垃圾\x00堆"}, "id_description", "Null characters are not allowed."),
        (
            {"address": "东门\x00", "lat": "", "lng": ""},
            "id_address",
            "Null characters are not allowed.",
        ),
        ({"lat": "abc"}, "where", "Latitude and longitude must be numbers."),
        ({"lng": ""}, "where", "Give both latitude and longitude, or neither."),
        ({"lat": "\x00"}, "where", "Null characters are not allowed."),
    ],
)
def test_a_bad_value_gives_its_inline_error_and_creates_no_case(
    changes: dict[str, str], where: str, message: str
) -> None:
    # given
    world = build_world()
    before = snapshot()

    # when
    response = client_for(world, "resident").post("/report/", good_data(world, **changes))

    # then
    assert response.status_code == 400
    assert snapshot() == before
    text = response.text
    assert summary_links(text) == [(where, message)]
    if where == "where":
        assert message in where_fieldset(text)
    elif where == "id_category":
        assert message in block(text, 'id="category-picker"', '<div id="questions"')
    else:
        assert f'<p class="error">{message}</p>' in field_block(text, where)


def test_a_point_outside_the_area_is_refused_in_the_where_fieldset() -> None:
    # given
    world = build_world()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/",
        good_data(world, lat=str(world.outside_lat), lng=str(world.outside_lng), description=""),
    )

    # then: with the description error, in the same pass
    assert response.status_code == 400
    assert snapshot() == before
    message = (
        f"This point ({world.outside_lat:.5f}, {world.outside_lng:.5f}) is outside the area "
        "this platform serves."
    )
    assert summary_links(response.text) == [
        ("where", message),
        ("id_description", "Describe the problem in a few words."),
    ]
    assert message in where_fieldset(response.text)


def test_an_address_without_a_point_is_enough() -> None:
    # given
    world = build_world()

    # when
    response = client_for(world, "resident").post(
        "/report/", good_data(world, lat="", lng="", address="东门口")
    )

    # then
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.number}/"
    assert case.address == "东门口"
    assert case.lat is None


def test_a_staff_only_category_is_refused_to_a_resident_and_offered_to_an_operator() -> None:
    # given
    world = build_world()
    add_question_categories(world)  # E0199 is staff-only
    before = snapshot()

    # when
    resident = client_for(world, "resident").post("/report/", good_data(world, category="E0199"))
    operator_page = client_for(world, "operator").get("/report/").text

    # then
    assert resident.status_code == 400
    assert snapshot() == before
    assert summary_links(resident.text) == [
        ("id_category", "Choose a problem from the list: that one is not on it.")
    ]
    assert '<option value="E0199"' in operator_page


def test_question_errors_are_listed_and_point_at_their_message() -> None:
    # given
    world = build_world()
    add_question_categories(world)

    # when
    response = client_for(world, "resident").post(
        "/report/", good_data(world, category="G0501", description="")
    )

    # then: the answer's error comes in the same pass as the form's
    assert response.status_code == 400
    text = response.text
    assert summary_links(text) == [
        (
            "id_attribute_periods_label",
            "Answer periods (When does the noise usually happen?): it is required for this "
            "category.",
        ),
        ("id_description", "Describe the problem in a few words."),
    ]
    assert (
        'role="group" aria-labelledby="id_attribute_periods_label" '
        'aria-describedby="id_attribute_periods_error"'
    ) in text
    assert 'id="id_attribute_periods_error"' in text
    assert Case.objects.count() == 0
