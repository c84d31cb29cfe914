"""The common problems a resident picks first on the report page, and the category picker.

The plain words, icons and keywords are data (``cases/data/common_problems.json``), not code::

    {"version": 1, "problems": [
        {"code": "C0118", "icon": "light", "name": "路灯不亮", "name_en": "Street light broken",
         "keywords": ["路灯", "太黑"], "keywords_en": ["lamp", "dark"]}]}

``code`` must be a leaf of the packaged category tree (``cases/data/categories.json``); ``icon`` is
the id of a symbol in the web app's icon sprite. :func:`common_problems` checks the file the
first time it is read and raises :class:`~civicgrid.cases.errors.CaseError`
(``cases.bad_category_data``) naming every problem, so a bad file fails its test, not a page.

:func:`category_picker` is the one read the report page makes for its category field: the
leaves the user may report under, grouped by parent, each with the text the search matches.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from civicgrid.core.names import pick_name

from .categories import DEFAULT_CATEGORIES_PATH
from .errors import CaseError
from .models import Category
from .selectors import leaf_categories

COMMON_PROBLEMS_PATH = Path(__file__).resolve().parent / "data" / "common_problems.json"
DOCUMENT_KEYS = frozenset({"version", "note", "problems"})
PROBLEM_KEYS = frozenset({"code", "icon", "name", "name_en", "keywords", "keywords_en"})
ICON_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
NAME_MAX_LENGTH = 40
MAX_PROBLEMS = 24


@dataclass(frozen=True)
class CommonProblem:
    """One button of the common problems: a leaf category in plain words, with an icon."""

    code: str
    icon: str
    name: str
    name_en: str
    keywords: tuple[str, ...]
    keywords_en: tuple[str, ...]

    @property
    def display_name(self) -> str:
        return pick_name(self.name, self.name_en)

    @property
    def search_words(self) -> tuple[str, ...]:
        return (self.name, self.name_en, *self.keywords, *self.keywords_en)


def _packaged_leaf_codes() -> frozenset[str]:
    doc = json.loads(DEFAULT_CATEGORIES_PATH.read_text(encoding="utf-8"))
    nodes = doc["categories"]
    parents = {n.get("parent") for n in nodes}
    return frozenset(n["code"] for n in nodes if n["code"] not in parents)


def _words(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        problems.append(f"{path}: a list of non-empty words")
        return ()
    return tuple(w.strip() for w in value)


def parse_common_problems(data: Any, *, leaf_codes: frozenset[str]) -> list[CommonProblem]:
    """The problems of a common-problems document; raises ``CaseError`` listing every fault
    (``problems[3].code: ...``) when the document is malformed or names a code that is not in
    ``leaf_codes``."""
    problems: list[str] = []
    out: list[CommonProblem] = []
    if not isinstance(data, dict) or data.get("version") != 1:
        problems.append('document: an object with "version": 1')
        data = {}
    elif unknown := sorted(set(data) - DOCUMENT_KEYS):
        problems.append(f"document: unknown keys {', '.join(unknown)}")
    items = data.get("problems", [])
    if not isinstance(items, list) or not items or len(items) > MAX_PROBLEMS:
        problems.append(f"problems: a list of 1 to {MAX_PROBLEMS} problems")
        items = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"problems[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{path}: an object")
            continue
        if unknown := sorted(set(item) - PROBLEM_KEYS):
            problems.append(f"{path}: unknown keys {', '.join(unknown)}")
        code = item.get("code")
        if not isinstance(code, str) or code not in leaf_codes:
            problems.append(f"{path}.code: {code!r} is not a leaf category of the category tree")
        elif code in seen:
            problems.append(f"{path}.code: {code} is listed twice")
        icon = item.get("icon")
        if not isinstance(icon, str) or not ICON_RE.match(icon):
            problems.append(f"{path}.icon: {icon!r} is not an icon id (a-z, 0-9, -)")
        names = {}
        for key in ("name", "name_en"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX_LENGTH:
                problems.append(f"{path}.{key}: a plain name of 1 to {NAME_MAX_LENGTH} characters")
                value = ""
            names[key] = value.strip()
        keywords = _words(item.get("keywords", []), f"{path}.keywords", problems)
        keywords_en = _words(item.get("keywords_en", []), f"{path}.keywords_en", problems)
        if isinstance(code, str):
            seen.add(code)
        out.append(
            CommonProblem(
                code=str(code),
                icon=str(icon),
                name=names["name"],
                name_en=names["name_en"],
                keywords=keywords,
                keywords_en=keywords_en,
            )
        )
    if problems:
        raise CaseError(
            CaseError.Code.BAD_CATEGORY_DATA,
            _("The common problems file has %(count)d problem(s): %(problems)s")
            % {"count": len(problems), "problems": "; ".join(problems)},
            field=problems[0].split(":", 1)[0],
            details={"problems": problems},
        )
    return out


@functools.cache
def common_problems(path: Path = COMMON_PROBLEMS_PATH) -> tuple[CommonProblem, ...]:
    """The checked common problems of ``path`` (read once per process)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(parse_common_problems(data, leaf_codes=_packaged_leaf_codes()))


# --------------------------------------------------------------------------- the picker


@dataclass(frozen=True)
class PickerGroup:
    """The leaves under one parent, named in the reader's language."""

    label: str
    leaves: tuple[Category, ...]


@dataclass(frozen=True)
class CategoryPicker:
    """What the report page's category field needs, from one query."""

    groups: tuple[PickerGroup, ...]
    common: tuple[tuple[CommonProblem, Category], ...]
    search_text: dict[str, str]  # code → lower-case words the search box matches

    @property
    def by_code(self) -> dict[str, Category]:
        return {leaf.code: leaf for group in self.groups for leaf in group.leaves}

    def plain_name(self, code: str) -> str:
        """The common problem's plain words for ``code``, or ``""``."""
        return next((p.display_name for p, c in self.common if c.code == code), "")


def _group_label(parent: Category | None, duplicated: set[str]) -> str:
    if parent is None:
        return ""
    label = parent.display_name
    root = parent.parent if parent.parent_id else None  # joined: no query
    if label in duplicated and root is not None:
        return f"{root.display_name} · {label}"
    return label


def category_picker(*, public_only: bool) -> CategoryPicker:
    """The leaves a user may report under, grouped by parent in tree order, the common
    problems among them (entries whose category is retired or staff-only are left out), and
    the search text of each leaf: its names and its parents' in both languages, plus the
    common problem's plain words and keywords. One query."""
    leaves = list(leaf_categories(public_only=public_only).select_related("parent__parent"))
    extra: dict[str, tuple[str, ...]] = {p.code: p.search_words for p in common_problems()}
    by_parent: dict[int | None, list[Category]] = {}
    for leaf in leaves:
        by_parent.setdefault(leaf.parent_id, []).append(leaf)
    parents = [group[0].parent for group in by_parent.values()]
    labels = [p.display_name if p is not None else "" for p in parents]
    duplicated = {label for label in labels if labels.count(label) > 1}
    groups = tuple(
        PickerGroup(_group_label(parent, duplicated), tuple(group))
        for parent, group in zip(parents, by_parent.values(), strict=True)
    )
    search: dict[str, str] = {}
    for leaf in leaves:
        words = [leaf.name, leaf.name_en, leaf.code]
        if leaf.parent is not None:
            words += [leaf.parent.name, leaf.parent.name_en]
        words += extra.get(leaf.code, ())
        search[leaf.code] = " ".join(w for w in words if w).lower()
    by_code = {leaf.code: leaf for leaf in leaves}
    common = tuple((p, by_code[p.code]) for p in common_problems() if p.code in by_code)
    return CategoryPicker(groups=groups, common=common, search_text=search)
