"""The case category tree (案件类别) as data: validate, import, export, and read it.

A category document is JSON::

    {"version": 1, "minutes_per_working_day": 420, "categories": [
        {"code": "C", "branch": "component", "name": "部件", "name_en": "Components",
         "time_limits": {"urgent": {"minutes": 120, "clock": "natural"}, ...}},
        {"code": "C01", "parent": "C", "name": "公用设施", "name_en": "Public utilities"},
        {"code": "C0101", "parent": "C01", "name": "上水井盖", "name_en": "...",
         "filing_condition": "...", "closing_condition": "..."}]}

A child's code is its parent's code followed by two digits, so codes roll up by prefix. Roots
name their ``branch``; children share their parent's. ``time_limits`` (per urgency),
``is_public`` and ``default_unit_code`` are inherited from the nearest ancestor that gives them;
an explicit ``"default_unit_code": null`` stops the inheritance. ``is_active: false`` retires a
node and everything below it. Every node stores its *resolved* values, so a leaf always has one
:class:`~civicgrid.cases.models.TimeLimit` row per urgency and readers never walk the tree.

Limits are minutes. ``minutes_per_working_day`` only documents how the author turned "N working
days" into minutes; the import warns when it differs from the configured work periods.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.models import Organization
from civicgrid.core.errors import ErrorKind
from civicgrid.core.services import audit_record
from civicgrid.core.worktime import work_calendar

from .attributes import compact_attribute_definitions, parse_attribute_definitions
from .errors import CaseError
from .models import Branch, Category, Clock, TimeLimit, Urgency

DEFAULT_CATEGORIES_PATH = Path(__file__).resolve().parent / "data" / "categories.json"

DOCUMENT_VERSION = 1
CODE_RE = re.compile(r"^[A-Z]{1,4}(?:\d{2})*$")
CODE_MAX_LENGTH = 20
NAME_MAX_LENGTH = 80
NAME_EN_MAX_LENGTH = 120
CONDITION_MAX_LENGTH = 2000
MAX_LIMIT_MINUTES = 60 * 24 * 60  # 60 days
URGENCIES: tuple[str, ...] = tuple(Urgency.values)
DOCUMENT_KEYS = frozenset({"version", "title", "note", "minutes_per_working_day", "categories"})
NODE_KEYS = frozenset(
    {
        "code",
        "parent",
        "branch",
        "name",
        "name_en",
        "filing_condition",
        "closing_condition",
        "is_public",
        "is_active",
        "default_unit_code",
        "time_limits",
        "attributes",
    }
)
LIMIT_KEYS = frozenset({"minutes", "clock"})

_INHERIT = object()  # default_unit_code absent: take the parent's

Limit = tuple[int, str]  # (minutes, clock)


@dataclass(frozen=True)
class CategoryProblem:
    """One thing wrong in a category document, and where (``categories[12].code``)."""

    field: str
    message: str
    code: str = CaseError.Code.BAD_CATEGORY_DATA.value

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class CategoryImportReport:
    """What an import did. ``unchanged_count`` nodes were already exactly as the document says."""

    category_count: int
    leaf_count: int
    created_count: int
    updated_count: int
    unchanged_count: int
    deactivated_count: int
    time_limit_count: int
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created_count or self.updated_count or self.deactivated_count)


@dataclass
class _Node:
    """A document node after structural checks, then with its inherited values resolved."""

    index: int
    code: str
    parent_code: str | None
    branch: str | None
    name: str
    name_en: str
    filing_condition: str
    closing_condition: str
    is_public: bool | None
    is_active: bool
    unit_code: Any  # str, None (no unit) or _INHERIT
    limits: dict[str, Limit]
    attributes: list[dict[str, Any]]
    given_urgencies: frozenset[str]  # valid urgency keys present, even with a bad value
    has_branch_key: bool  # a bad branch is reported once, not again as missing
    # resolved
    resolved_branch: str = ""
    resolved_public: bool = True
    resolved_active: bool = True
    resolved_unit: str | None = None
    resolved_limits: dict[str, Limit] = field(default_factory=dict)
    covered_urgencies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Resolved:
    branch: str
    is_public: bool
    is_active: bool
    unit_code: str | None
    limits: dict[str, Limit]
    covered_urgencies: frozenset[str]


class _Problems:
    def __init__(self) -> None:
        self.items: list[CategoryProblem] = []

    def add(self, path: str, message: Any, code: str | None = None) -> None:
        self.items.append(
            CategoryProblem(path, str(message), code or CaseError.Code.BAD_CATEGORY_DATA.value)
        )

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        raise CaseError(
            CaseError.Code.BAD_CATEGORY_DATA,
            _(
                "The category data has %(count)d problem(s) and nothing was saved. "
                "The first is at %(field)s: %(message)s"
            )
            % {"count": len(self.items), "field": first.field, "message": first.message},
            field=first.field,
            details={"problems": [p.as_dict() for p in self.items]},
        )


# --------------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(
    problems: _Problems,
    item: dict[str, Any],
    key: str,
    path: str,
    *,
    max_length: int,
    required: bool,
) -> str:
    value = item.get(key)
    if value is None:
        if required:
            problems.add(f"{path}.{key}", _("This field is required."))
        return ""
    if not isinstance(value, str):
        problems.add(f"{path}.{key}", _("This must be a string."))
        return ""
    value = value.strip()
    if required and not value:
        problems.add(f"{path}.{key}", _("This field must not be empty."))
    elif len(value) > max_length:
        problems.add(
            f"{path}.{key}",
            _("This is %(length)d characters long; at most %(max)d are allowed.")
            % {"length": len(value), "max": max_length},
        )
    return value


def _bool(problems: _Problems, item: dict[str, Any], key: str, path: str) -> bool | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        problems.add(f"{path}.{key}", _("This must be true or false."))
        return None
    return value


def _limits(problems: _Problems, value: Any, path: str) -> tuple[dict[str, Limit], frozenset[str]]:
    """The valid limits, and every known urgency given (so a bad value is reported once,
    not again at each leaf that would have inherited it)."""
    if value is None:
        return {}, frozenset()
    if not isinstance(value, dict):
        problems.add(path, _("Time limits must be an object keyed by urgency."))
        return {}, frozenset(URGENCIES)
    limits: dict[str, Limit] = {}
    for urgency, spec in value.items():
        upath = f"{path}.{urgency}"
        if urgency not in URGENCIES:
            problems.add(
                upath,
                _("Unknown urgency %(urgency)s; use one of: %(choices)s.")
                % {"urgency": urgency, "choices": ", ".join(URGENCIES)},
            )
            continue
        if not isinstance(spec, dict):
            problems.add(upath, _("A time limit must be an object with minutes and clock."))
            continue
        for key in sorted(set(spec) - LIMIT_KEYS):
            problems.add(f"{upath}.{key}", _("Unknown key; a time limit has minutes and clock."))
        minutes: Any = spec.get("minutes")
        clock: Any = spec.get("clock")
        ok = True
        if not _is_int(minutes):
            problems.add(f"{upath}.minutes", _("Minutes must be a whole number."))
            ok = False
        elif not 0 < minutes <= MAX_LIMIT_MINUTES:
            problems.add(
                f"{upath}.minutes",
                _("Minutes must be between 1 and %(max)d (60 days); %(value)d was given.")
                % {"max": MAX_LIMIT_MINUTES, "value": minutes},
            )
            ok = False
        if clock not in Clock.values:
            problems.add(
                f"{upath}.clock",
                _("Unknown clock %(clock)s; use one of: %(choices)s.")
                % {"clock": clock, "choices": ", ".join(Clock.values)},
            )
            ok = False
        if ok:
            limits[urgency] = (minutes, clock)
    return limits, frozenset(value) & frozenset(URGENCIES)


def _parse_node(problems: _Problems, index: int, item: Any) -> _Node | None:
    path = f"categories[{index}]"
    if not isinstance(item, dict):
        problems.add(path, _("A category must be an object."))
        return None
    for key in sorted(set(item) - NODE_KEYS):
        problems.add(f"{path}.{key}", _("Unknown key."))
    code = item.get("code")
    if not isinstance(code, str) or not code:
        problems.add(f"{path}.code", _("A category needs a code (a string)."))
        return None
    if len(code) > CODE_MAX_LENGTH or not CODE_RE.match(code):
        problems.add(
            f"{path}.code",
            _(
                "Code %(code)s is malformed: use up to 4 capital letters followed by pairs of "
                "digits, at most %(max)d characters (for example C0101)."
            )
            % {"code": code, "max": CODE_MAX_LENGTH},
        )
    parent = item.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        problems.add(f"{path}.parent", _("The parent must be a category code or null."))
        parent = None
    branch = item.get("branch")
    if branch is not None and branch not in Branch.values:
        problems.add(
            f"{path}.branch",
            _("Unknown branch %(branch)s; use one of: %(choices)s.")
            % {"branch": branch, "choices": ", ".join(Branch.values)},
        )
        branch = None
    unit_code: Any = _INHERIT
    if "default_unit_code" in item:
        unit_code = item["default_unit_code"]
        if unit_code is not None and (not isinstance(unit_code, str) or not unit_code):
            problems.add(
                f"{path}.default_unit_code",
                _("The default unit must be an organization code or null."),
            )
            unit_code = _INHERIT
    is_active = _bool(problems, item, "is_active", path)
    limits, given_urgencies = _limits(problems, item.get("time_limits"), f"{path}.time_limits")
    attributes, attribute_problems = parse_attribute_definitions(
        item.get("attributes"), f"{path}.attributes"
    )
    for problem_path, message in attribute_problems:
        problems.add(problem_path, message)
    return _Node(
        index=index,
        code=code,
        parent_code=parent,
        branch=branch,
        name=_text(problems, item, "name", path, max_length=NAME_MAX_LENGTH, required=True),
        name_en=_text(
            problems, item, "name_en", path, max_length=NAME_EN_MAX_LENGTH, required=True
        ),
        filing_condition=_text(
            problems,
            item,
            "filing_condition",
            path,
            max_length=CONDITION_MAX_LENGTH,
            required=False,
        ),
        closing_condition=_text(
            problems,
            item,
            "closing_condition",
            path,
            max_length=CONDITION_MAX_LENGTH,
            required=False,
        ),
        is_public=_bool(problems, item, "is_public", path),
        is_active=True if is_active is None else is_active,
        unit_code=unit_code,
        limits=limits,
        attributes=attributes,
        given_urgencies=given_urgencies,
        has_branch_key="branch" in item,
    )


def _existing_resolved(category: Category) -> _Resolved:
    limits = {tl.urgency: (tl.limit_minutes, tl.clock) for tl in category.time_limits.all()}
    return _Resolved(
        branch=category.branch,
        is_public=category.is_public,
        is_active=category.is_active,
        unit_code=category.default_unit.code if category.default_unit else None,
        limits=limits,
        covered_urgencies=frozenset(limits),
    )


@dataclass
class _Plan:
    nodes: list[_Node]  # parents before children
    leaf_codes: set[str]
    existing: dict[str, Category]
    units: dict[str, Organization]
    warnings: list[str]


def _validate(data: Any, *, replace: bool) -> _Plan:
    """Check the whole document against itself and the database; raise with every problem."""
    problems = _Problems()
    if not isinstance(data, dict):
        problems.add("$", _("The document must be a JSON object with a categories list."))
        problems.raise_if_any()
    for key in sorted(set(data) - DOCUMENT_KEYS):
        problems.add(key, _("Unknown key."))
    version = data.get("version", DOCUMENT_VERSION)
    if version != DOCUMENT_VERSION:
        problems.add(
            "version",
            _("Version %(version)s is not supported; this release reads version %(supported)d.")
            % {"version": version, "supported": DOCUMENT_VERSION},
        )
    warnings: list[str] = []
    per_day = data.get("minutes_per_working_day")
    if per_day is not None:
        if not _is_int(per_day) or not 0 < per_day <= 24 * 60:
            problems.add(
                "minutes_per_working_day", _("This must be a whole number from 1 to 1440.")
            )
        elif per_day != work_calendar().minutes_per_day:
            warnings.append(
                str(
                    _(
                        "The document counts %(doc)d minutes per working day but the configured "
                        "work periods give %(configured)d; limits written in working days will "
                        "be longer or shorter than their author meant."
                    )
                    % {"doc": per_day, "configured": work_calendar().minutes_per_day}
                )
            )
    items = data.get("categories")
    if not isinstance(items, list) or not items:
        problems.add("categories", _("The document needs a non-empty list of categories."))
        problems.raise_if_any()

    nodes: list[_Node] = []
    by_code: dict[str, _Node] = {}
    for index, item in enumerate(items):
        node = _parse_node(problems, index, item)
        if node is None:
            continue
        if node.code in by_code:
            problems.add(
                f"categories[{index}].code",
                _("Code %(code)s is used twice; it is first used at categories[%(first)d].")
                % {"code": node.code, "first": by_code[node.code].index},
            )
            continue
        by_code[node.code] = node
        nodes.append(node)

    existing = {
        c.code: c
        for c in Category.objects.select_related("default_unit", "parent").prefetch_related(
            "time_limits"
        )
    }
    wanted_units = {n.unit_code for n in nodes if isinstance(n.unit_code, str)}
    units = {o.code: o for o in Organization.objects.filter(code__in=wanted_units)}

    # Resolve top-down; codes of valid trees grow by two digits a level, so sorting by length
    # puts parents first. A node whose chain is broken is reported and left unresolved.
    resolved: dict[str, _Resolved] = {}
    for node in sorted(nodes, key=lambda n: (len(n.code), n.index)):
        path = f"categories[{node.index}]"
        parent: _Resolved | None = None
        broken = False
        if node.parent_code is not None:
            if node.parent_code in by_code:
                parent = resolved.get(node.parent_code)
                broken = parent is None
            elif node.parent_code in existing and not replace:
                parent = _existing_resolved(existing[node.parent_code])
            else:
                problems.add(
                    f"{path}.parent",
                    _("Parent %(parent)s is not in the document.")
                    if replace
                    else _("Parent %(parent)s is neither in the document nor in the database."),
                    code=CaseError.Code.UNKNOWN_CATEGORY.value,
                )
                broken = True
            if not re.fullmatch(re.escape(node.parent_code) + r"\d{2}", node.code):
                problems.add(
                    f"{path}.code",
                    _(
                        "Code %(code)s does not nest under its parent %(parent)s: a child's code "
                        "is its parent's code followed by two digits."
                    )
                    % {"code": node.code, "parent": node.parent_code},
                )
                broken = True
        elif node.branch is None:
            if not node.has_branch_key:
                problems.add(f"{path}.branch", _("A top-level category must name its branch."))
            broken = True
        if parent is not None and node.branch is not None and node.branch != parent.branch:
            problems.add(
                f"{path}.branch",
                _("Branch %(branch)s differs from the parent's branch %(parent_branch)s.")
                % {"branch": node.branch, "parent_branch": parent.branch},
            )
            broken = True
        if isinstance(node.unit_code, str) and node.unit_code not in units:
            problems.add(
                f"{path}.default_unit_code",
                _("No organization has the code %(code)s.") % {"code": node.unit_code},
                code=CaseError.Code.UNKNOWN_UNIT.value,
            )
        if broken:
            continue
        node.resolved_branch = node.branch or (parent.branch if parent else "")
        node.resolved_public = (
            node.is_public if node.is_public is not None else (parent.is_public if parent else True)
        )
        node.resolved_active = node.is_active and (parent.is_active if parent else True)
        if node.unit_code is _INHERIT:
            node.resolved_unit = parent.unit_code if parent else None
        else:
            node.resolved_unit = node.unit_code
        node.resolved_limits = {**(parent.limits if parent else {}), **node.limits}
        node.covered_urgencies = node.given_urgencies | (
            parent.covered_urgencies if parent else frozenset()
        )
        resolved[node.code] = _Resolved(
            branch=node.resolved_branch,
            is_public=node.resolved_public,
            is_active=node.resolved_active,
            unit_code=node.resolved_unit,
            limits=node.resolved_limits,
            covered_urgencies=node.covered_urgencies,
        )

    # A leaf is what cases are filed under: active, without an active child in the document
    # or (when merging) in the database. Retired nodes without children must be complete too,
    # so that reactivating one is safe.
    any_children = {n.parent_code for n in nodes if n.parent_code is not None}
    active_children = {
        n.parent_code
        for n in nodes
        if n.parent_code is not None and n.code in resolved and n.resolved_active
    }
    if not replace:
        for c in existing.values():
            if c.parent is not None and c.code not in by_code:
                any_children.add(c.parent.code)
                if c.is_active:
                    active_children.add(c.parent.code)
    leaf_codes = {
        n.code
        for n in nodes
        if n.code in resolved and n.resolved_active and n.code not in active_children
    }
    complete_codes = leaf_codes | {
        n.code for n in nodes if n.code in resolved and n.code not in any_children
    }
    for node in nodes:
        if node.attributes and node.code in active_children:
            problems.add(
                f"categories[{node.index}].attributes",
                _("Only leaf categories ask questions; %(code)s has children.")
                % {"code": node.code},
            )
        if node.code not in complete_codes:
            continue
        missing = [u for u in URGENCIES if u not in node.covered_urgencies]
        if missing:
            problems.add(
                f"categories[{node.index}].time_limits",
                _("Leaf %(code)s has no time limit for %(urgencies)s, and no ancestor gives one.")
                % {"code": node.code, "urgencies": ", ".join(missing)},
            )
    problems.raise_if_any()
    ordered = sorted(nodes, key=lambda n: (len(n.code), n.index))
    return _Plan(ordered, leaf_codes, existing, units, warnings)


# --------------------------------------------------------------------------------- writing


@transaction.atomic
def category_tree_import(
    *, actor: Any, data: dict[str, Any], replace: bool = False
) -> CategoryImportReport:
    """Validate a whole category document, then upsert it by code in one transaction.

    Nothing is written unless the whole document is valid; every problem is reported at once
    in ``CaseError.details["problems"]`` (``field`` is a path such as
    ``categories[12].time_limits.urgent.minutes``). Each node gets its inherited values
    resolved and one TimeLimit row per urgency it resolves (every urgency for leaves); rows
    not in the document are deleted. Document order becomes ``sort_order``.

    With ``replace`` the document is the whole tree: categories missing from it are
    deactivated (never deleted, cases may point at them). Without it, other categories are
    left alone and a node may hang under an existing one.

    One audit record is written when anything changed; a reload of the same document writes
    nothing at all, so loading the defaults at every start is harmless.

    Rows are checked with ``full_clean`` minus the database round trips: uniqueness and the
    foreign keys were settled by the validation above (codes are unique in the document and
    compared with the table; parents and units are the rows just read), and the table's own
    constraints still guard them. New time limits go in with one ``bulk_create``.
    """
    plan = _validate(data, replace=replace)
    existing = plan.existing
    created = updated = unchanged = 0
    changed_codes: list[str] = []
    time_limit_count = 0
    saved: dict[str, Category] = {}
    new_limits: list[TimeLimit] = []
    for node in plan.nodes:
        parent = None
        if node.parent_code is not None:
            parent = saved.get(node.parent_code) or existing[node.parent_code]
        values: dict[str, Any] = {
            "parent": parent,
            "branch": node.resolved_branch,
            "name": node.name,
            "name_en": node.name_en,
            "filing_condition": node.filing_condition,
            "closing_condition": node.closing_condition,
            "default_unit": plan.units[node.resolved_unit] if node.resolved_unit else None,
            "is_public": node.resolved_public,
            "is_active": node.resolved_active,
            "sort_order": node.index * 10,
            "attributes": node.attributes,
        }
        category = existing.get(node.code)
        is_new = category is None
        if category is None:
            category = Category(code=node.code, **values)
            _check(category)
            category.save()
            dirty = True
        else:
            fields = [name for name, value in values.items() if _differs(category, name, value)]
            for name in fields:
                setattr(category, name, values[name])
            if fields:
                _check(category)
                category.save(update_fields=fields)
            dirty = bool(fields)
        saved[node.code] = category
        dirty = (
            _sync_time_limits(category, node.resolved_limits, is_new=is_new, new_rows=new_limits)
            or dirty
        )
        time_limit_count += len(node.resolved_limits)
        if is_new:
            created += 1
        elif dirty:
            updated += 1
        else:
            unchanged += 1
        if dirty:
            changed_codes.append(node.code)

    TimeLimit.objects.bulk_create(new_limits)

    deactivated = 0
    if replace:
        stale = [c for code, c in existing.items() if code not in saved and c.is_active]
        for category in stale:
            category.is_active = False
            category.save(update_fields=["is_active"])
            changed_codes.append(category.code)
        deactivated = len(stale)

    report = CategoryImportReport(
        category_count=len(plan.nodes),
        leaf_count=len(plan.leaf_codes),
        created_count=created,
        updated_count=updated,
        unchanged_count=unchanged,
        deactivated_count=deactivated,
        time_limit_count=time_limit_count,
        warnings=tuple(plan.warnings),
    )
    if report.changed:
        audit_record(
            actor=actor,
            action="category.tree_import",
            target=None,
            data={
                "replace": replace,
                "category_count": report.category_count,
                "leaf_count": report.leaf_count,
                "created_count": created,
                "updated_count": updated,
                "deactivated_count": deactivated,
                "changed_codes": changed_codes[:500],
            },
        )
    return report


def _differs(category: Category, name: str, value: Any) -> bool:
    if name in ("parent", "default_unit"):
        return getattr(category, f"{name}_id") != (value.pk if value is not None else None)
    return bool(getattr(category, name) != value)


def _check(obj: Category | TimeLimit) -> None:
    """``full_clean`` without the queries the import has already answered (see its docstring)."""
    obj.full_clean(
        exclude=["parent", "default_unit", "category"],
        validate_unique=False,
        validate_constraints=False,
    )


def _sync_time_limits(
    category: Category, wanted: dict[str, Limit], *, is_new: bool, new_rows: list[TimeLimit]
) -> bool:
    """Make the category's TimeLimit rows ``wanted``: updates and deletes at once, new rows
    appended to ``new_rows`` for one bulk insert. True when anything differs."""
    current = {} if is_new else {tl.urgency: tl for tl in category.time_limits.all()}
    dirty = False
    for urgency in URGENCIES:
        row = current.get(urgency)
        limit = wanted.get(urgency)
        if limit is None:
            if row is not None:
                row.delete()
                dirty = True
            continue
        minutes, clock = limit
        if row is None:
            row = TimeLimit(category=category, urgency=urgency, limit_minutes=minutes, clock=clock)
            _check(row)
            new_rows.append(row)
            dirty = True
        elif (row.limit_minutes, row.clock) != limit:
            row.limit_minutes, row.clock = minutes, clock
            _check(row)
            row.save(update_fields=["limit_minutes", "clock"])
            dirty = True
    return dirty


def load_default_categories(*, actor: Any = None) -> CategoryImportReport:
    """Load the packaged default tree (``cases/data/categories.json``), merging by code."""
    data = json.loads(DEFAULT_CATEGORIES_PATH.read_text(encoding="utf-8"))
    return category_tree_import(actor=actor, data=data)


# --------------------------------------------------------------------------------- reading


def category_tree_export() -> dict[str, Any]:
    """The whole tree as a document that :func:`category_tree_import` reads back unchanged.

    Inherited values are written only where a node differs from its parent, so the export
    of the packaged defaults reads like the packaged file. Inactive categories are included
    with ``is_active: false``.
    """
    categories = list(
        Category.objects.select_related("default_unit")
        .prefetch_related("time_limits")
        .order_by("sort_order", "code")
    )
    by_id = {c.pk: c for c in categories}
    limits = {
        c.pk: {tl.urgency: (tl.limit_minutes, tl.clock) for tl in c.time_limits.all()}
        for c in categories
    }
    out: list[dict[str, Any]] = []
    for category in categories:
        parent = by_id.get(category.parent_id) if category.parent_id else None
        node: dict[str, Any] = {"code": category.code}
        if parent is not None:
            node["parent"] = parent.code
        if parent is None or parent.branch != category.branch:
            node["branch"] = category.branch
        node["name"] = category.name
        node["name_en"] = category.name_en
        if category.filing_condition:
            node["filing_condition"] = category.filing_condition
        if category.closing_condition:
            node["closing_condition"] = category.closing_condition
        if category.is_public != (parent.is_public if parent else True):
            node["is_public"] = category.is_public
        if not category.is_active and (parent is None or parent.is_active):
            node["is_active"] = False
        unit = category.default_unit.code if category.default_unit else None
        parent_unit = parent.default_unit.code if parent and parent.default_unit else None
        if unit != parent_unit:
            node["default_unit_code"] = unit
        own = limits[category.pk]
        inherited = limits[parent.pk] if parent else {}
        time_limits = {
            u: {"minutes": own[u][0], "clock": own[u][1]}
            for u in URGENCIES
            if u in own and own[u] != inherited.get(u)
        }
        if time_limits:
            node["time_limits"] = time_limits
        if category.attributes:
            node["attributes"] = compact_attribute_definitions(category.attributes)
        out.append(node)
    return {
        "version": DOCUMENT_VERSION,
        "minutes_per_working_day": work_calendar().minutes_per_day,
        "categories": out,
    }


def leaf_categories(*, public_only: bool = False) -> QuerySet[Category]:
    """Active categories without an active child: the ones cases are filed under."""
    qs = (
        Category.objects.filter(is_active=True)
        .exclude(children__is_active=True)
        .select_related("parent")
        .prefetch_related("time_limits")
    )
    if public_only:
        qs = qs.filter(is_public=True)
    return qs


def category_time_limit(category: Category, urgency: str) -> TimeLimit:
    """The disposal limit of ``category`` at ``urgency``.

    Uses prefetched rows when present (as :func:`leaf_categories` gives them). Raises
    ``CaseError`` when the urgency is unknown or the category has no limit for it (an inner
    node whose ancestors give none).
    """
    if urgency not in URGENCIES:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("Unknown urgency %(urgency)s.") % {"urgency": urgency},
            field="urgency",
        )
    for row in category.time_limits.all():
        if row.urgency == urgency:
            return row
    raise CaseError(
        CaseError.Code.BAD_CATEGORY_DATA,
        _("Category %(code)s has no time limit for urgency %(urgency)s.")
        % {"code": category.code, "urgency": urgency},
        field="urgency",
        kind=ErrorKind.CONFLICT,
    )
