"""Category questions (Open311 attributes): definitions, the category importer, answers, and
case_submit storing the cleaned answers or refusing with nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from civicgrid.cases.attributes import (
    category_attributes,
    check_attribute_answers,
    parse_attribute_definitions,
)
from civicgrid.cases.categories import (
    DEFAULT_CATEGORIES_PATH,
    category_tree_export,
    category_tree_import,
    load_default_categories,
)
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Case, Category, TimeLimit, Trace
from civicgrid.cases.tests.factories import build_world, submit
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

STATE = {
    "code": "state",
    "datatype": "singlevaluelist",
    "required": True,
    "description": "路灯状态",
    "description_en": "Light state",
    "values": [
        {"key": "off", "name": "不亮", "name_en": "Off"},
        {"key": "flicker", "name": "闪烁", "name_en": "Flickering"},
    ],
}
PERIODS = {
    "code": "periods",
    "datatype": "multivaluelist",
    "description": "时段",
    "description_en": "When",
    "values": [
        {"key": "morning", "name": "早上", "name_en": "Morning"},
        {"key": "night", "name": "深夜", "name_en": "Night"},
    ],
}
QUESTIONS: list[dict[str, Any]] = [
    STATE,
    PERIODS,
    {"code": "depth", "datatype": "number", "description": "深度", "description_en": "Depth"},
    {
        "code": "started",
        "datatype": "datetime",
        "description": "开始时间",
        "description_en": "Started",
    },
    {"code": "pole", "datatype": "string", "description": "灯杆编号", "description_en": "Pole"},
    {"code": "details", "datatype": "text", "description": "详情", "description_en": "Details"},
    {
        "code": "warning",
        "datatype": "string",
        "variable": False,
        "description": "注意安全",
        "description_en": "Keep safe",
    },
]


def definitions(raw: Any = None) -> list[dict[str, Any]]:
    parsed, problems = parse_attribute_definitions(copy.deepcopy(raw or QUESTIONS), "x")
    assert problems == []
    return parsed


def asking(raw: Any = None) -> Category:
    """An unsaved leaf category with the questions (check_attribute_answers reads no rows)."""
    return Category(code="X0101", name="测试", attributes=definitions(raw))


def problems_of(raw: Any) -> list[tuple[str, str]]:
    _parsed, problems = parse_attribute_definitions(raw, "x")
    return problems


def one(**overrides: Any) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"code": "pole", "datatype": "string", "description": "灯杆编号"}
    item.update(overrides)
    return [item]


# --------------------------------------------------------------------------- definitions


def test_definitions_are_normalized_with_every_key_filled() -> None:
    # when
    parsed, problems = parse_attribute_definitions(
        [
            {"code": "pole", "datatype": "string", "description": " 灯杆编号 "},
            {**STATE, "order": 0},
            {
                "code": "note",
                "datatype": "text",
                "variable": False,
                "required": True,
                "description": "提示",
            },
        ],
        "x",
    )

    # then
    assert problems == []
    assert parsed == [
        {
            "code": "pole",
            "datatype": "string",
            "variable": True,
            "required": False,
            "order": 1,
            "description": "灯杆编号",
            "description_en": "",
            "datatype_description": "",
            "datatype_description_en": "",
        },
        {
            "code": "state",
            "datatype": "singlevaluelist",
            "variable": True,
            "required": True,
            "order": 0,
            "description": "路灯状态",
            "description_en": "Light state",
            "datatype_description": "",
            "datatype_description_en": "",
            "values": [
                {"key": "off", "name": "不亮", "name_en": "Off"},
                {"key": "flicker", "name": "闪烁", "name_en": "Flickering"},
            ],
        },
        {
            "code": "note",
            "datatype": "text",
            "variable": False,
            "required": False,  # an informational line cannot be required
            "order": 3,
            "description": "提示",
            "description_en": "",
            "datatype_description": "",
            "datatype_description_en": "",
        },
    ]


def test_no_definitions_is_an_empty_list() -> None:
    assert parse_attribute_definitions(None, "x") == ([], [])
    assert parse_attribute_definitions([], "x") == ([], [])


def test_questions_come_in_their_order() -> None:
    # given
    category = asking([{**QUESTIONS[4], "order": 9}, {**QUESTIONS[2], "order": 2}])

    # then
    assert [d.code for d in category_attributes(category)] == ["depth", "pole"]
    assert category_attributes(Category(code="X")) == []


CODE_MESSAGE = (
    "An attribute code starts with a lower-case letter and has up to 40 lower-case letters, "
    "digits and '_'."
)
DATATYPES = "string, number, datetime, text, singlevaluelist, multivaluelist"
VALUE_KEY_MESSAGE = "A value key is 1 to 40 letters, digits, '_', '.' or '-'."
BOOL_MESSAGE = "This must be true or false."
ORDER_MESSAGE = "Order must be a whole number from 0 to 1000."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"code": "pole"}, [("x", "Attributes must be a list of definitions.")]),
        ("pole", [("x", "Attributes must be a list of definitions.")]),
        (["pole"], [("x[0]", "An attribute must be an object.")]),
        (
            [{"code": "p", "datatype": "string", "description": "d"}] * 21,
            [("x", "At most 20 attributes are allowed.")]
            + [(f"x[{i}].code", "Code p is used twice.") for i in range(1, 21)],
        ),
        (one(code="Pole"), [("x[0].code", CODE_MESSAGE)]),
        (one(code="1pole"), [("x[0].code", CODE_MESSAGE)]),
        (one(code="pole-number"), [("x[0].code", CODE_MESSAGE)]),
        (one(code="p" * 41), [("x[0].code", CODE_MESSAGE)]),
        (one(code=7), [("x[0].code", CODE_MESSAGE)]),
        (one() + one(), [("x[1].code", "Code pole is used twice.")]),
        (
            one(datatype="date"),
            [("x[0].datatype", f"Unknown datatype date; use one of: {DATATYPES}.")],
        ),
        (
            one(datatype=None),
            [("x[0].datatype", f"Unknown datatype None; use one of: {DATATYPES}.")],
        ),
        (
            one(values=[{"key": "a", "name": "A"}]),
            [("x[0].values", "Only list datatypes take values.")],
        ),
        (
            one(datatype="singlevaluelist"),
            [("x[0].values", "A list attribute needs a non-empty list of values.")],
        ),
        (
            one(datatype="multivaluelist", values=[]),
            [("x[0].values", "A list attribute needs a non-empty list of values.")],
        ),
        (
            one(datatype="singlevaluelist", values=[{"key": "a b", "name": "A"}]),
            [("x[0].values[0].key", VALUE_KEY_MESSAGE)],
        ),
        (
            one(datatype="singlevaluelist", values=[{"name": "A"}]),
            [("x[0].values[0].key", VALUE_KEY_MESSAGE)],
        ),
        (
            one(datatype="singlevaluelist", values=["a"]),
            [("x[0].values[0]", "A value must be an object with key, name and name_en.")],
        ),
        (
            one(
                datatype="singlevaluelist",
                values=[{"key": "off", "name": "A"}, {"key": "off", "name": "B"}],
            ),
            [("x[0].values[1].key", "Key off is used twice.")],
        ),
        (
            one(datatype="singlevaluelist", values=[{"key": "off", "name": " "}]),
            [("x[0].values[0].name", "This field must not be empty.")],
        ),
        (
            one(datatype="singlevaluelist", values=[{"key": "off", "name": "A", "label": "x"}]),
            [("x[0].values[0].label", "Unknown key.")],
        ),
        (one(variable="yes"), [("x[0].variable", BOOL_MESSAGE)]),
        (one(required=1), [("x[0].required", BOOL_MESSAGE)]),
        (one(required=None), [("x[0].required", BOOL_MESSAGE)]),
        (one(order=-1), [("x[0].order", ORDER_MESSAGE)]),
        (one(order=1001), [("x[0].order", ORDER_MESSAGE)]),
        (one(order="1"), [("x[0].order", ORDER_MESSAGE)]),
        (one(order=True), [("x[0].order", ORDER_MESSAGE)]),
        (one(order=1.5), [("x[0].order", ORDER_MESSAGE)]),
        (one(colour="red"), [("x[0].colour", "Unknown key.")]),
        (one(description=""), [("x[0].description", "This field must not be empty.")]),
        (one(description=3), [("x[0].description", "This must be a string.")]),
        (
            one(description="长" * 301),
            [("x[0].description", "This is 301 characters long; at most 300 are allowed.")],
        ),
        (
            one(datatype_description_en="x" * 301),
            [
                (
                    "x[0].datatype_description_en",
                    "This is 301 characters long; at most 300 are allowed.",
                )
            ],
        ),
    ],
)
def test_every_problem_of_a_definition_is_reported_with_its_path(
    raw: Any, expected: list[tuple[str, str]]
) -> None:
    assert problems_of(raw) == expected


def test_several_problems_are_reported_together() -> None:
    # when
    problems = problems_of(
        [
            {"code": "a", "datatype": "string", "description": "", "variable": "no"},
            {"code": "b", "datatype": "number", "description": "d", "values": []},
        ]
    )

    # then
    assert problems == [
        ("x[0].variable", BOOL_MESSAGE),
        ("x[0].description", "This field must not be empty."),
        ("x[1].values", "Only list datatypes take values."),
    ]


# --------------------------------------------------------------------------- category importer


def default_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(DEFAULT_CATEGORIES_PATH).read_text(encoding="utf-8"))
    return doc


def index_of(doc: dict[str, Any], code: str) -> int:
    return next(i for i, c in enumerate(doc["categories"]) if c["code"] == code)


def refused(doc: dict[str, Any]) -> CaseError:
    with pytest.raises(CaseError) as info:
        category_tree_import(actor=None, data=doc)
    return info.value


def assert_nothing_saved() -> None:
    assert Category.objects.count() == 0
    assert TimeLimit.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_importer_refuses_questions_on_a_category_with_children() -> None:
    # given
    doc = default_doc()
    doc["categories"][1]["attributes"] = one()

    # when
    error = refused(doc)

    # then
    assert doc["categories"][1]["code"] == "C01"
    assert error.code == "cases.bad_category_data"
    assert error.field == "categories[1].attributes"
    assert error.details["problems"] == [
        {
            "field": "categories[1].attributes",
            "code": "cases.bad_category_data",
            "message": "Only leaf categories ask questions; C01 has children.",
        }
    ]
    assert_nothing_saved()


def test_importer_reports_attribute_problems_with_their_document_path() -> None:
    # given
    doc = default_doc()
    doc["categories"][3]["attributes"] = [
        {"code": "Bad", "datatype": "string", "description": "x"},
        {"code": "ok", "datatype": "singlevaluelist", "description": "y"},
    ]

    # when
    error = refused(doc)

    # then
    assert doc["categories"][3]["code"] == "C0102"
    assert error.field == "categories[3].attributes[0].code"
    assert [(p["field"], p["message"]) for p in error.details["problems"]] == [
        ("categories[3].attributes[0].code", CODE_MESSAGE),
        (
            "categories[3].attributes[1].values",
            "A list attribute needs a non-empty list of values.",
        ),
    ]
    assert error.message.startswith(
        "The category data has 2 problem(s) and nothing was saved. The first is at "
        "categories[3].attributes[0].code: "
    )
    assert_nothing_saved()


def test_the_packaged_questions_are_loaded_normalized() -> None:
    # when
    load_default_categories()

    # then
    noise = Category.objects.get(code="G0501")
    assert [(d.code, d.datatype, d.required) for d in category_attributes(noise)] == [
        ("periods", "multivaluelist", True),
        ("started_at", "datetime", False),
    ]
    gas = category_attributes(Category.objects.get(code="E0403"))
    assert [(d.code, d.variable) for d in gas] == [("gas_warning", False)]
    with_questions = sorted(Category.objects.exclude(attributes=[]).values_list("code", flat=True))
    assert with_questions == ["C0118", "E0403", "E0406", "E0505", "G0102", "G0501"]


def test_export_then_import_keeps_the_questions() -> None:
    # given the defaults, with richer questions on one leaf
    load_default_categories()
    doc = default_doc()
    doc["categories"][3]["attributes"] = copy.deepcopy(QUESTIONS)
    category_tree_import(actor=None, data=doc)
    stored = Category.objects.get(code="C0102").attributes
    exported = category_tree_export()
    TimeLimit.objects.all().delete()
    for depth in (5, 3, 1):
        for category in Category.objects.all():
            if len(category.code) == depth:
                category.delete()

    # when
    report = category_tree_import(actor=None, data=json.loads(json.dumps(exported)))

    # then
    assert report.created_count == 166
    assert Category.objects.get(code="C0102").attributes == stored == definitions(QUESTIONS)
    assert Category.objects.get(code="G0501").attributes == definitions(
        doc["categories"][index_of(doc, "G0501")]["attributes"]
    )
    assert category_tree_export() == exported
    assert exported["categories"][3]["attributes"][0] == {
        "code": "state",
        "datatype": "singlevaluelist",
        "required": True,
        "description": "路灯状态",
        "description_en": "Light state",
        "values": STATE["values"],
    }


# --------------------------------------------------------------------------- answers


def bad_answer(answers: dict[str, Any], raw: Any = None) -> CaseError:
    with pytest.raises(CaseError) as info:
        check_attribute_answers(asking(raw), answers)
    assert info.value.code == "cases.bad_attribute"
    return info.value


def test_good_answers_are_cleaned() -> None:
    # when
    cleaned = check_attribute_answers(
        asking(),
        {
            "state": " off ",
            "periods": ["night", "morning", "night", ""],
            "depth": "15",
            "started": "2026-11-28T14:30:00Z",
            "pole": "  LD-0231 ",
            "details": "第一行\n第二行",
        },
    )

    # then
    assert cleaned == {
        "state": "off",
        "periods": ["night", "morning"],
        "depth": 15,
        "started": "2026-11-28T22:30:00+08:00",
        "pole": "LD-0231",
        "details": "第一行\n第二行",
    }


def test_optional_blank_answers_are_left_out() -> None:
    # when
    cleaned = check_attribute_answers(
        asking(),
        {"state": "flicker", "periods": [], "depth": "", "started": None, "pole": "  "},
    )

    # then
    assert cleaned == {"state": "flicker"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2.5", 2.5), (3, 3), (" 7 ", 7), ("-4", -4), ("1e3", 1000), (0.25, 0.25), (["12"], 12)],
)
def test_numbers(value: Any, expected: Any) -> None:
    cleaned = check_attribute_answers(asking(), {"state": "off", "depth": value})
    assert cleaned["depth"] == expected
    assert type(cleaned["depth"]) is type(expected)


@pytest.mark.parametrize("value", ["abc", "inf", "-Infinity", "nan", "1e13", "1,5", "0x10"])
def test_numbers_that_are_not_finite_numbers_are_refused(value: str) -> None:
    error = bad_answer({"state": "off", "depth": value})
    assert error.field == "attributes.depth"
    assert error.message == "depth (Depth) must be a number such as 3 or 2.5."


def test_a_boolean_is_not_a_number() -> None:
    error = bad_answer({"state": "off", "depth": True})
    assert error.field == "attributes.depth"
    assert error.message == "depth (Depth) must be a number."


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-28T22:30", "the date-time has no time zone (add Z or +08:00)"),
        ("2026-11-28T22:30:00", "the date-time has no time zone (add Z or +08:00)"),
        ("2026-11-28", "not a W3C date-time such as 2026-11-28T09:30:00+08:00"),
        ("yesterday", "not a W3C date-time such as 2026-11-28T09:30:00+08:00"),
    ],
)
def test_datetimes_need_their_zone(value: str, reason: str) -> None:
    error = bad_answer({"state": "off", "started": value})
    assert error.field == "attributes.started"
    assert error.message == (
        "started (Started) must be a date and time with its zone, such as "
        f"2026-11-28T09:30:00+08:00 ({reason})."
    )


def test_datetimes_are_stored_in_the_local_zone() -> None:
    cleaned = check_attribute_answers(
        asking(), {"state": "off", "started": "2026-11-28T09:30:00-05:00"}
    )
    assert cleaned["started"] == "2026-11-28T22:30:00+08:00"


def test_a_single_choice_outside_the_list_is_refused() -> None:
    error = bad_answer({"state": "on"})
    assert error.field == "attributes.state"
    assert error.message == "on is not a choice of state (Light state); choose from: off, flicker."


def test_a_single_choice_takes_one_value() -> None:
    error = bad_answer({"state": ["off", "flicker"]})
    assert error.field == "attributes.state"
    assert error.message == "state (Light state) takes one value, not 2."


def test_a_single_choice_as_a_one_item_list_is_accepted() -> None:
    assert check_attribute_answers(asking(), {"state": ["off"]}) == {"state": "off"}


def test_a_multiple_choice_outside_the_list_is_refused() -> None:
    error = bad_answer({"state": "off", "periods": ["morning", "noon"]})
    assert error.field == "attributes.periods"
    assert error.message == "noon is not a choice of periods (When); choose from: morning, night."


def test_a_multiple_choice_given_as_one_string_is_one_key() -> None:
    # one key as a plain string is a one-item list; a joined string is not a key
    assert check_attribute_answers(asking(), {"state": "off", "periods": "night"}) == {
        "state": "off",
        "periods": ["night"],
    }
    error = bad_answer({"state": "off", "periods": "morning,night"})
    assert error.field == "attributes.periods"
    assert error.message == (
        "morning,night is not a choice of periods (When); choose from: morning, night."
    )


def test_a_one_line_string_with_a_newline_is_refused() -> None:
    error = bad_answer({"state": "off", "pole": "LD\n0231"})
    assert error.field == "attributes.pole"
    assert error.message == "pole (Pole) takes one line."


def test_over_long_string_and_text_are_refused() -> None:
    long_string = bad_answer({"state": "off", "pole": "x" * 201})
    long_text = bad_answer({"state": "off", "details": "字" * 2001})
    assert long_string.field == "attributes.pole"
    assert long_string.message == "pole (Pole) is 201 characters long; at most 200 are allowed."
    assert long_text.field == "attributes.details"
    assert long_text.message == (
        "details (Details) is 2001 characters long; at most 2000 are allowed."
    )
    assert check_attribute_answers(asking(), {"state": "off", "pole": "x" * 200})["pole"] == (
        "x" * 200
    )


def test_an_unknown_question_is_refused() -> None:
    error = bad_answer({"state": "off", "colour": "red"})
    assert error.field == "attributes.colour"
    assert error.message == "Category X0101 asks no question colour."


def test_an_answer_to_an_informational_line_is_refused() -> None:
    error = bad_answer({"state": "off", "warning": "ok"})
    assert error.field == "attributes.warning"
    assert error.message == "Category X0101 asks no question warning."


@pytest.mark.parametrize("answers", [{}, {"state": ""}, {"state": "   "}, {"state": None}])
def test_a_required_answer_missing_or_blank_is_refused(answers: dict[str, Any]) -> None:
    error = bad_answer(answers)
    assert error.field == "attributes.state"
    assert error.message == "Answer state (Light state): it is required for this category."


def test_a_required_multiple_choice_needs_a_key() -> None:
    raw = [{**PERIODS, "required": True}]
    error = bad_answer({"periods": ["", " "]}, raw)
    assert error.field == "attributes.periods"
    assert error.message == "Answer periods (When): it is required for this category."


def test_answers_to_a_category_without_questions() -> None:
    assert check_attribute_answers(Category(code="X0102"), None) == {}
    assert check_attribute_answers(Category(code="X0102"), {}) == {}
    with pytest.raises(CaseError) as info:
        check_attribute_answers(Category(code="X0102"), {"a": "1"})
    assert info.value.message == "Category X0102 asks no question a."


# --------------------------------------------------------------------------- case_submit


def rows() -> tuple[int, int, int]:
    return Case.objects.count(), Trace.objects.count(), AuditRecord.objects.count()


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({}, "attributes.state"),
        ({"state": "on"}, "attributes.state"),
        ({"state": "off", "depth": "abc"}, "attributes.depth"),
        ({"state": "off", "colour": "red"}, "attributes.colour"),
    ],
)
def test_case_submit_with_bad_answers_writes_nothing(answers: dict[str, Any], field: str) -> None:
    # given
    world = build_world()
    garbage = world.categories["garbage"]
    garbage.attributes = definitions()
    garbage.save()
    before = rows()

    # when
    with pytest.raises(CaseError) as refused:
        submit(world, attributes=answers)

    # then
    assert refused.value.code == "cases.bad_attribute"
    assert refused.value.field == field
    assert refused.value.http_status == 400
    assert rows() == before


def test_case_submit_stores_the_cleaned_answers() -> None:
    # given
    world = build_world()
    garbage = world.categories["garbage"]
    garbage.attributes = definitions()
    garbage.save()

    # when
    case = submit(
        world,
        attributes={
            "state": "flicker",
            "periods": ["morning"],
            "depth": "2.50",
            "started": "2026-11-28T22:30+08:00",
            "pole": " LD-1 ",
            "details": "",
        },
    )

    # then
    assert Case.objects.get(pk=case.pk).attributes == {
        "state": "flicker",
        "periods": ["morning"],
        "depth": 2.5,
        "started": "2026-11-28T22:30:00+08:00",
        "pole": "LD-1",
    }
    assert AuditRecord.objects.filter(action="case.submit").count() == 1


def test_case_submit_without_questions_stores_no_answers() -> None:
    # given
    world = build_world()

    # when
    case = submit(world)

    # then
    assert Case.objects.get(pk=case.pk).attributes == {}
