"""The common-problems file: checked when loaded, every entry a reportable leaf with an icon."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from civicgrid.cases.categories import DEFAULT_CATEGORIES_PATH, load_default_categories
from civicgrid.cases.common_problems import (
    COMMON_PROBLEMS_PATH,
    category_picker,
    common_problems,
    parse_common_problems,
)
from civicgrid.cases.errors import CaseError

LEAVES = frozenset({"C0118", "G0602", "E0101"})


def shipped() -> dict[str, Any]:
    return json.loads(COMMON_PROBLEMS_PATH.read_text(encoding="utf-8"))


def one(**changes: Any) -> dict[str, Any]:
    problem = {
        "code": "C0118",
        "icon": "light",
        "name": "路灯不亮",
        "name_en": "Street light broken",
        "keywords": ["路灯"],
        "keywords_en": ["lamp"],
    }
    problem.update(changes)
    return {"version": 1, "problems": [problem]}


def test_the_shipped_file_loads_a_dozen_problems_in_both_languages() -> None:
    # when
    problems = common_problems()

    # then
    assert [p.code for p in problems] == [
        "C0118",
        "G0602",
        "G0201",
        "G0501",
        "E0402",
        "E0401",
        "C0102",
        "E0505",
        "G0502",
        "E0404",
        "G0202",
        "G0601",
    ]
    assert problems[0].name == "路灯不亮"
    assert problems[0].name_en == "Street light broken"
    assert all(p.name and p.name_en and p.keywords and p.keywords_en for p in problems)


@pytest.mark.django_db
def test_every_shipped_problem_is_a_public_leaf_after_loading_the_default_tree() -> None:
    # given
    load_default_categories()

    # when
    picker = category_picker(public_only=True)

    # then
    assert [p.code for p, _category in picker.common] == [p.code for p in common_problems()]
    assert all(category.code == p.code for p, category in picker.common)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            one(code="C9999"),
            "problems[0].code: 'C9999' is not a leaf category of the category tree",
        ),
        (one(code="C01"), "problems[0].code: 'C01' is not a leaf category of the category tree"),
        (one(icon="Light bulb"), "problems[0].icon: 'Light bulb' is not an icon id (a-z, 0-9, -)"),
        (one(name=""), "problems[0].name: a plain name of 1 to 40 characters"),
        (one(name_en="x" * 41), "problems[0].name_en: a plain name of 1 to 40 characters"),
        (one(keywords="路灯"), "problems[0].keywords: a list of non-empty words"),
        (one(keywords_en=["", "lamp"]), "problems[0].keywords_en: a list of non-empty words"),
        (one(colour="red"), "problems[0]: unknown keys colour"),
        ({"version": 2, "problems": []}, 'document: an object with "version": 1'),
        ({"version": 1, "problems": []}, "problems: a list of 1 to 24 problems"),
        ({"version": 1, "problems": ["C0118"]}, "problems[0]: an object"),
    ],
)
def test_a_bad_file_is_a_clear_error(data: dict[str, Any], message: str) -> None:
    # when
    with pytest.raises(CaseError) as caught:
        parse_common_problems(data, leaf_codes=LEAVES)

    # then
    assert caught.value.code == "cases.bad_category_data"
    assert message in caught.value.details["problems"]
    assert message in caught.value.message


def test_a_code_listed_twice_is_refused() -> None:
    # given
    data = one()
    data["problems"].append(copy.deepcopy(data["problems"][0]))

    # when
    with pytest.raises(CaseError) as caught:
        parse_common_problems(data, leaf_codes=LEAVES)

    # then
    assert caught.value.details["problems"] == ["problems[1].code: C0118 is listed twice"]


def test_the_shipped_codes_are_checked_against_the_packaged_tree(tmp_path: Path) -> None:
    # given a copy of the shipped file with one code the packaged tree does not have
    data = shipped()
    data["problems"][3]["code"] = "G0599"
    path = tmp_path / "common_problems.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert DEFAULT_CATEGORIES_PATH.exists()

    # when
    with pytest.raises(CaseError) as caught:
        common_problems(path)

    # then
    assert caught.value.details["problems"] == [
        "problems[3].code: 'G0599' is not a leaf category of the category tree"
    ]
