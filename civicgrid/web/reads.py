"""Small reads the pages need beside civicgrid.cases.selectors (kept here so views stay free of
ORM calls). Candidates to move into the cases selectors if other callers appear."""

from __future__ import annotations

from civicgrid.accounts.models import User
from civicgrid.cases.models import Case, Category, Light
from civicgrid.cases.selectors import case_queue, leaf_categories

QUEUE_LIMIT = 500


def leaf_category_by_code(code: str, *, public_only: bool) -> Category | None:
    return leaf_categories(public_only=public_only).filter(code=code).first()


def queue_rows(*, user: User, light: str = "") -> tuple[list[tuple[Case, str]], dict[str, int]]:
    """The user's work queue with each case's traffic light, optionally only one light, and the
    count of each light over the whole queue."""
    rows = [(case, case.light()) for case in case_queue(user=user)[:QUEUE_LIMIT]]
    counts = {value: 0 for value in Light.values}
    for _, case_light in rows:
        counts[case_light] += 1
    if light in Light.values:
        rows = [row for row in rows if row[1] == light]
    return rows, counts
