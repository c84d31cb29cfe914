"""The case category tree as data: the packaged defaults, import, export, refusals, command."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.accounts.models import Organization, OrganizationKind, Role, User
from civicgrid.cases.categories import (
    DEFAULT_CATEGORIES_PATH,
    category_time_limit,
    category_tree_export,
    category_tree_import,
    leaf_categories,
    load_default_categories,
)
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Category, TimeLimit
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

BAD = "cases.bad_category_data"


def default_doc() -> dict[str, Any]:
    return json.loads(DEFAULT_CATEGORIES_PATH.read_text(encoding="utf-8"))


def index_of(doc: dict[str, Any], code: str) -> int:
    return next(i for i, c in enumerate(doc["categories"]) if c["code"] == code)


def admin() -> User:
    return User.objects.create_user(username="admin", role=Role.ADMINISTRATOR)


def limits_of(code: str) -> dict[str, tuple[int, str]]:
    return {
        tl.urgency: (tl.limit_minutes, tl.clock)
        for tl in TimeLimit.objects.filter(category__code=code)
    }


def snapshot() -> list[tuple[Any, ...]]:
    """Every category and time-limit row, to show that a refused import changed nothing."""
    cats = list(
        Category.objects.order_by("code").values_list(
            "code",
            "parent__code",
            "branch",
            "name",
            "name_en",
            "filing_condition",
            "closing_condition",
            "default_unit__code",
            "is_public",
            "is_active",
            "sort_order",
        )
    )
    limits = list(
        TimeLimit.objects.order_by("category__code", "urgency").values_list(
            "category__code", "urgency", "limit_minutes", "clock"
        )
    )
    return cats + limits


def refused(data: Any, *, replace: bool = False) -> CaseError:
    with pytest.raises(CaseError) as info:
        category_tree_import(actor=None, data=data, replace=replace)
    return info.value


# ------------------------------------------------------------------------------ the defaults


def test_packaged_tree_loads_with_exact_counts():
    # given
    actor = admin()

    # when
    report = load_default_categories(actor=actor)

    # then
    assert (report.category_count, report.leaf_count) == (166, 136)
    assert (report.created_count, report.updated_count, report.unchanged_count) == (166, 0, 0)
    assert report.deactivated_count == 0
    assert report.time_limit_count == 498
    assert report.warnings == ()
    roots = Category.objects.filter(parent=None).order_by("sort_order")
    assert [(c.code, c.branch) for c in roots] == [
        ("C", "component"),
        ("E", "event"),
        ("G", "governance"),
        ("H", "hotline"),
    ]
    leaves = leaf_categories()
    assert leaves.count() == 136
    by_branch = {b: leaves.filter(branch=b).count() for b in ("component", "event")}
    by_branch |= {b: leaves.filter(branch=b).count() for b in ("governance", "hotline")}
    assert by_branch == {"component": 55, "event": 35, "governance": 23, "hotline": 23}
    assert Category.objects.count() == 166
    assert TimeLimit.objects.count() == 498
    audit = AuditRecord.objects.get()
    assert audit.action == "category.tree_import"
    assert audit.actor == actor
    assert audit.data["created_count"] == 166


def test_every_packaged_leaf_has_three_limits_and_both_conditions():
    # given
    load_default_categories()

    # when
    leaves = list(leaf_categories())

    # then
    assert len(leaves) == 136
    for leaf in leaves:
        assert sorted(tl.urgency for tl in leaf.time_limits.all()) == [
            "normal",
            "pressing",
            "urgent",
        ], leaf.code
        assert leaf.filing_condition and leaf.closing_condition, leaf.code
        assert leaf.parent is not None and leaf.parent.code == leaf.code[:3], leaf.code
        assert len(leaf.code) == 5, leaf.code


def test_packaged_limits_follow_the_reference_examples():
    # given
    load_default_categories()

    # then: a missing sewer cover is 2 h around the clock when urgent
    assert limits_of("C0102") == {
        "urgent": (120, "natural"),
        "pressing": (240, "natural"),
        "normal": (420, "working"),
    }
    # a street light out: one working day (420 working minutes)
    assert limits_of("C0118")["normal"] == (420, "working")
    # an illegal structure is hard: 15 working days
    assert limits_of("E0101") == {
        "urgent": (120, "natural"),
        "pressing": (2100, "working"),
        "normal": (6300, "working"),
    }
    # a gas leak overrides its class; a road collapse inherits the emergencies class
    assert limits_of("E0403") == {
        "urgent": (30, "natural"),
        "pressing": (60, "natural"),
        "normal": (120, "natural"),
    }
    assert limits_of("E0401") == limits_of("E04")
    # hotline: 7 days
    assert limits_of("H0101")["normal"] == (10080, "natural")
    gas_leak = Category.objects.get(code="E0403")
    assert (gas_leak.name, gas_leak.name_en, gas_leak.branch) == ("燃气泄漏", "Gas leak", "event")


def test_hotline_internals_are_not_public():
    # given
    load_default_categories()

    # when
    public = leaf_categories(public_only=True)

    # then
    assert public.count() == 133
    assert sorted(Category.objects.filter(is_public=False).values_list("code", flat=True)) == [
        "H99",
        "H9901",
        "H9902",
        "H9903",
    ]


def test_reloading_the_defaults_changes_nothing_and_writes_no_audit():
    # given
    load_default_categories()
    before = snapshot()

    # when
    report = load_default_categories()

    # then
    assert (report.created_count, report.updated_count, report.unchanged_count) == (0, 0, 166)
    assert report.changed is False
    assert snapshot() == before
    assert AuditRecord.objects.count() == 1


# ------------------------------------------------------------------------------ export / import


def test_export_of_the_defaults_reads_like_the_packaged_file():
    # given
    load_default_categories()

    # when
    exported = category_tree_export()

    # then
    assert exported["version"] == 1
    assert exported["minutes_per_working_day"] == 420
    assert exported["categories"] == default_doc()["categories"]


def test_export_import_round_trip_is_stable():
    # given
    load_default_categories()
    before = snapshot()
    exported = category_tree_export()

    # when
    report = category_tree_import(actor=None, data=json.loads(json.dumps(exported)), replace=True)

    # then
    assert (report.created_count, report.updated_count, report.unchanged_count) == (0, 0, 166)
    assert report.deactivated_count == 0
    assert snapshot() == before
    assert category_tree_export() == exported


def test_round_trip_into_an_empty_database_rebuilds_the_same_tree():
    # given
    load_default_categories()
    unit = Organization.objects.create(
        kind=OrganizationKind.CONTRACTOR, code="lights-co", name="路灯养护公司"
    )
    Category.objects.filter(code="C0118").update(default_unit=unit)
    exported = category_tree_export()
    before = snapshot()
    TimeLimit.objects.all().delete()
    for depth in (5, 3, 1):
        for category in Category.objects.all():
            if len(category.code) == depth:
                category.delete()

    # when
    report = category_tree_import(actor=None, data=exported)

    # then
    assert report.created_count == 166
    assert snapshot() == before
    assert category_tree_export() == exported


def test_changing_one_limit_updates_only_that_leaf_with_one_audit_row():
    # given
    load_default_categories()
    doc = default_doc()
    doc["categories"][index_of(doc, "C0118")]["time_limits"] = {
        "normal": {"minutes": 840, "clock": "working"}
    }

    # when
    report = category_tree_import(actor=None, data=doc)

    # then
    assert (report.created_count, report.updated_count, report.unchanged_count) == (0, 1, 165)
    assert limits_of("C0118") == {
        "urgent": (120, "natural"),
        "pressing": (240, "working"),
        "normal": (840, "working"),
    }
    audit = AuditRecord.objects.order_by("id").last()
    assert AuditRecord.objects.count() == 2
    assert audit is not None and audit.data["changed_codes"] == ["C0118"]


def test_changing_a_class_limit_reaches_every_leaf_below_it():
    # given
    load_default_categories()
    doc = default_doc()
    doc["categories"][index_of(doc, "C03")]["time_limits"] = {
        "normal": {"minutes": 840, "clock": "working"}
    }

    # when
    report = category_tree_import(actor=None, data=doc)

    # then: C03 and its leaves without their own normal limit (C0307 has one)
    assert report.updated_count == 7
    assert limits_of("C0301")["normal"] == (840, "working")
    assert limits_of("C0307")["normal"] == (1260, "working")


def test_replace_deactivates_what_the_document_leaves_out():
    # given
    load_default_categories()
    doc = default_doc()
    doc["categories"] = [c for c in doc["categories"] if not c["code"].startswith("H")]

    # when
    report = category_tree_import(actor=None, data=doc, replace=True)

    # then
    assert report.deactivated_count == 32
    assert Category.objects.filter(is_active=False).count() == 32
    assert leaf_categories().count() == 113
    assert Category.objects.count() == 166


def test_merge_adds_a_local_extension_under_an_existing_class():
    # given
    load_default_categories()
    doc = {
        "categories": [
            {
                "code": "C0199",
                "parent": "C01",
                "name": "充电桩",
                "name_en": "EV charging post",
                "filing_condition": "充电桩损坏、断电或线缆裸露",
                "closing_condition": "充电桩已修复，可正常充电",
            }
        ]
    }

    # when
    report = category_tree_import(actor=None, data=doc)

    # then
    assert (report.created_count, report.leaf_count) == (1, 1)
    assert limits_of("C0199") == limits_of("C01")
    assert Category.objects.get(code="C0199").branch == "component"
    assert leaf_categories().count() == 137


def test_default_unit_is_inherited_and_null_stops_it():
    # given
    unit = Organization.objects.create(
        kind=OrganizationKind.DEPARTMENT, code="water-dept", name="水务局"
    )
    doc = default_doc()
    doc["categories"][index_of(doc, "C01")]["default_unit_code"] = "water-dept"
    doc["categories"][index_of(doc, "C0118")]["default_unit_code"] = None

    # when
    category_tree_import(actor=None, data=doc)

    # then
    assert Category.objects.get(code="C0101").default_unit == unit
    assert Category.objects.get(code="C0118").default_unit is None
    assert Category.objects.get(code="C0201").default_unit is None
    exported = {c["code"]: c for c in category_tree_export()["categories"]}
    assert exported["C01"]["default_unit_code"] == "water-dept"
    assert exported["C0118"]["default_unit_code"] is None
    assert "default_unit_code" not in exported["C0101"]


def test_a_working_day_length_unlike_the_settings_gives_a_warning():
    # given
    doc = default_doc()
    doc["minutes_per_working_day"] = 480

    # when
    report = category_tree_import(actor=None, data=doc)

    # then
    assert report.created_count == 166
    assert len(report.warnings) == 1
    assert "480" in report.warnings[0] and "420" in report.warnings[0]


# ------------------------------------------------------------------------------ refusals


def assert_one_problem(error: CaseError, field: str, code: str = BAD) -> None:
    assert error.code == BAD
    assert error.field == field
    assert [(p["field"], p["code"]) for p in error.details["problems"]] == [(field, code)]
    assert field in error.message
    assert Category.objects.count() == 0
    assert TimeLimit.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_duplicate_code_is_refused():
    # given
    doc = default_doc()
    doc["categories"][index_of(doc, "C0102")]["code"] = "C0101"

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[3].code")
    assert "C0101 is used twice" in error.details["problems"][0]["message"]


def test_unknown_parent_is_refused():
    # given
    doc = default_doc()
    doc["categories"].append(
        {"code": "C0901", "parent": "C09", "name": "新设施", "name_en": "New facility"}
    )

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[166].parent", "cases.unknown_category")


def test_code_that_does_not_nest_under_its_parent_is_refused():
    # given
    doc = default_doc()
    doc["categories"][index_of(doc, "C0201")]["code"] = "C0301"
    doc["categories"][index_of(doc, "C0301")]["code"] = "C0399"

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, f"categories[{index_of(default_doc(), 'C0201')}].code")
    assert "does not nest" in error.message


def test_unknown_urgency_is_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["time_limits"]["critical"] = {"minutes": 30, "clock": "natural"}

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[2].time_limits.critical")


@pytest.mark.parametrize("minutes", [-240, 0, 86401, 1.5, "240", True, None])
def test_bad_minutes_are_refused(minutes):
    # given: a bad value on the root is reported once, not again at each leaf below
    doc = default_doc()
    doc["categories"][0]["time_limits"]["pressing"]["minutes"] = minutes

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[0].time_limits.pressing.minutes")


def test_unknown_clock_is_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["time_limits"]["pressing"]["clock"] = "lunar"

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[2].time_limits.pressing.clock")


def test_name_too_long_is_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["name"] = "井" * 81

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[2].name")
    assert "81 characters" in error.message


def test_english_name_too_long_or_missing_is_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["name_en"] = "x" * 121
    del doc["categories"][3]["name_en"]

    # when
    error = refused(doc)

    # then
    assert [p["field"] for p in error.details["problems"]] == [
        "categories[2].name_en",
        "categories[3].name_en",
    ]
    assert Category.objects.count() == 0


def test_unknown_unit_is_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["default_unit_code"] = "no-such-unit"

    # when
    error = refused(doc)

    # then
    assert_one_problem(error, "categories[2].default_unit_code", "cases.unknown_unit")
    assert "no-such-unit" in error.message


def test_branch_errors_are_refused():
    # given
    doc = default_doc()
    del doc["categories"][0]["branch"]
    doc["categories"][index_of(doc, "E01")]["branch"] = "hotline"
    doc["categories"][index_of(doc, "G")]["branch"] = "weather"

    # when
    error = refused(doc)

    # then
    fields = [p["field"] for p in error.details["problems"]]
    assert fields == [
        f"categories[{index_of(doc, 'G')}].branch",
        "categories[0].branch",
        f"categories[{index_of(doc, 'E01')}].branch",
    ]
    assert Category.objects.count() == 0


def test_leaf_without_a_full_set_of_limits_is_refused():
    # given
    doc = default_doc()
    del doc["categories"][index_of(doc, "H")]["time_limits"]["normal"]

    # when
    error = refused(doc)

    # then: every hotline leaf but the five with a normal limit of their own or their class's
    # (H9902, H9903, H0701-H0703)
    fields = [p["field"] for p in error.details["problems"]]
    assert len(fields) == 18
    assert fields[0] == f"categories[{index_of(doc, 'H0101')}].time_limits"
    assert "no time limit for normal" in error.message
    assert Category.objects.count() == 0


def test_unknown_keys_and_wrong_types_are_refused():
    # given
    doc = default_doc()
    doc["categories"][2]["filing_conditon"] = "typo"
    doc["categories"][3]["is_public"] = "yes"
    doc["categories"][4] = "C0103"
    doc["extra"] = 1

    # when
    error = refused(doc)

    # then
    assert [p["field"] for p in error.details["problems"]] == [
        "extra",
        "categories[2].filing_conditon",
        "categories[3].is_public",
        "categories[4]",
    ]
    assert Category.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "$"),
        ({}, "categories"),
        ({"categories": []}, "categories"),
        ({"version": 2, "categories": default_doc()["categories"]}, "version"),
    ],
)
def test_malformed_documents_are_refused(data, field):
    # when
    error = refused(data)

    # then
    assert error.field == field
    assert Category.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_every_problem_is_reported_at_once():
    # given
    doc = default_doc()
    doc["categories"][3]["code"] = "C0101"
    doc["categories"][5]["time_limits"] = {"soon": {"minutes": 5, "clock": "working"}}
    doc["categories"][7]["name"] = ""

    # when
    error = refused(doc)

    # then
    assert [p["field"] for p in error.details["problems"]] == [
        "categories[3].code",
        "categories[5].time_limits.soon",
        "categories[7].name",
    ]
    assert "3 problem(s)" in error.message


def test_refused_import_leaves_an_existing_tree_untouched():
    # given
    load_default_categories()
    before = snapshot()
    doc = default_doc()
    doc["categories"][index_of(doc, "C0118")]["time_limits"] = {
        "normal": {"minutes": 840, "clock": "working"}
    }
    doc["categories"][index_of(doc, "E0101")]["default_unit_code"] = "nobody"

    # when
    error = refused(doc, replace=True)

    # then
    assert error.field == f"categories[{index_of(doc, 'E0101')}].default_unit_code"
    assert snapshot() == before
    assert AuditRecord.objects.count() == 1


def test_replace_refuses_a_parent_outside_the_document():
    # given
    load_default_categories()
    doc = {
        "categories": [
            {"code": "C0199", "parent": "C01", "name": "充电桩", "name_en": "EV charging post"}
        ]
    }

    # when
    error = refused(doc, replace=True)

    # then
    assert error.field == "categories[0].parent"
    assert Category.objects.count() == 166
    assert AuditRecord.objects.count() == 1


# ------------------------------------------------------------------------------ selectors


def test_category_time_limit_reads_prefetched_rows_without_queries():
    # given
    load_default_categories()
    leaves = list(leaf_categories().filter(code__in=["C0102", "E0403"]))

    # when
    with CaptureQueriesContext(connection) as ctx:
        limits = {c.code: category_time_limit(c, "urgent").limit_minutes for c in leaves}

    # then
    assert limits == {"C0102": 120, "E0403": 30}
    assert len(ctx.captured_queries) == 0


def test_leaf_categories_takes_two_queries():
    # given
    load_default_categories()

    # when
    with CaptureQueriesContext(connection) as ctx:
        rows = [
            (c.code, c.parent_id and c.parent, len(c.time_limits.all())) for c in leaf_categories()
        ]

    # then
    assert len(rows) == 136
    assert len(ctx.captured_queries) == 2


def test_category_time_limit_refuses_an_unknown_urgency():
    # given
    load_default_categories()
    leaf = Category.objects.get(code="C0102")

    # when
    with pytest.raises(CaseError) as info:
        category_time_limit(leaf, "whenever")

    # then
    assert (info.value.code, info.value.field) == ("cases.bad_input", "urgency")


# ------------------------------------------------------------------------------ command


def test_command_loads_the_packaged_tree(capsys):
    # when
    call_command("load_categories")

    # then
    out = capsys.readouterr().out
    assert "Loaded 166 categories (136 leaves)" in out
    assert "166 created, 0 updated, 0 unchanged, 0 deactivated" in out
    assert Category.objects.count() == 166


def test_command_loads_a_file_with_replace(tmp_path: Path, capsys):
    # given
    load_default_categories()
    doc = default_doc()
    doc["categories"] = [c for c in doc["categories"] if not c["code"].startswith("H")]
    path = tmp_path / "cats.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    # when
    call_command("load_categories", "--file", str(path), "--replace")

    # then
    assert "32 deactivated" in capsys.readouterr().out
    assert Category.objects.filter(is_active=False).count() == 32


def test_command_reports_a_missing_file(tmp_path: Path):
    # when
    with pytest.raises(CommandError) as info:
        call_command("load_categories", "--file", str(tmp_path / "nope.json"))

    # then
    assert "nope.json does not exist" in str(info.value)
    assert Category.objects.count() == 0


def test_command_reports_bad_json_with_line_and_column(tmp_path: Path):
    # given
    path = tmp_path / "bad.json"
    text = '{\n  "categories": [\n    {"code": "C" "name": "x"}\n  ]\n}\n'
    path.write_text(text, encoding="utf-8")

    # when
    with pytest.raises(CommandError) as info:
        call_command("load_categories", "--file", str(path))

    # then
    assert "is not valid JSON" in str(info.value)
    assert "line 3, column 18" in str(info.value)  # the missing comma after "C"
    assert Category.objects.count() == 0


def test_command_reports_a_file_that_is_not_utf8(tmp_path: Path):
    # given
    path = tmp_path / "gbk.json"
    path.write_bytes('{"categories": [{"name": "井盖"}]}'.encode("gbk"))

    # when
    with pytest.raises(CommandError) as info:
        call_command("load_categories", "--file", str(path))

    # then
    assert "is not UTF-8" in str(info.value)


def test_command_lists_every_problem_of_a_refused_file(tmp_path: Path):
    # given
    doc = copy.deepcopy(default_doc())
    doc["categories"][2]["name"] = "井" * 81
    doc["categories"][3]["default_unit_code"] = "ghost"
    path = tmp_path / "cats.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    # when
    with pytest.raises(CommandError) as info:
        call_command("load_categories", "--file", str(path))

    # then
    lines = str(info.value).splitlines()
    assert lines[0].endswith("was refused; nothing was saved.")
    assert lines[1].startswith("  categories[2].name: ")
    assert lines[2] == "  categories[3].default_unit_code: No organization has the code ghost."
    assert Category.objects.count() == 0
    assert AuditRecord.objects.count() == 0
