"""Small reads the pages need beside civicgrid.cases.selectors (kept here so views stay free of
ORM calls). Candidates to move into the cases selectors if other callers appear."""

from __future__ import annotations

from typing import Any

from django.utils import formats, timezone

from civicgrid.cases.attributes import AttributeDef, category_attributes
from civicgrid.cases.models import Case, Category
from civicgrid.cases.selectors import leaf_categories
from civicgrid.core.datetimes import W3DateTimeError, parse_w3_datetime
from civicgrid.geo.selectors import cell_list

CATEGORY_CODE_MAX = 20  # Category.code


def leaf_category_by_code(code: str, *, public_only: bool) -> Category | None:
    """The leaf category with this code, or ``None``. A value no category code can be (too
    long, or holding NUL, which PostgreSQL refuses in a query) is ``None`` without asking."""
    if not code or len(code) > CATEGORY_CODE_MAX or not code.isprintable():
        return None
    return leaf_categories(public_only=public_only).filter(code=code).first()


def category_questions(
    code: str, *, public_only: bool
) -> tuple[Category | None, list[AttributeDef]]:
    """The leaf category with this code (``None`` if it is not one the user may report under)
    and its questions in display order."""
    category = leaf_category_by_code(code, public_only=public_only) if code else None
    return category, category_attributes(category) if category is not None else []


def _answer_text(definition: AttributeDef | None, value: Any) -> str:
    if definition is not None and definition.values:
        names = {v.key: v.display_name for v in definition.values}
        keys = value if isinstance(value, list) else [value]
        return ", ".join(names.get(str(k), str(k)) for k in keys)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if definition is not None and definition.datatype == "datetime":
        try:
            moment = parse_w3_datetime(str(value))
        except W3DateTimeError:
            return str(value)
        return formats.date_format(timezone.localtime(moment), "Y-m-d H:i")
    return str(value)


def case_answers(case: Case) -> list[tuple[str, str]]:
    """(question, answer) for each stored answer of the case, in the category's question order
    (answers to questions the category no longer asks come last, under their code). Answers are
    not personal data: everyone who may see the case sees them."""
    answers = dict(case.attributes or {})
    rows: list[tuple[str, str]] = []
    for definition in category_attributes(case.category):
        if definition.code in answers:
            value = answers.pop(definition.code)
            rows.append(
                (definition.display_description or definition.code, _answer_text(definition, value))
            )
    rows.extend((code, _answer_text(None, value)) for code, value in answers.items())
    return rows


def sample_submission() -> tuple[str, float, float]:
    """A public leaf category code and a point in the first grid cell, for the example request
    shown next to a new API key (placeholders when the tables are empty)."""
    category = leaf_categories(public_only=True).first()
    cell = cell_list().first()
    return (
        category.code if category is not None else "E0101",
        round(cell.centroid_lat, 6) if cell is not None else 39.9,
        round(cell.centroid_lng, 6) if cell is not None else 116.4,
    )
