"""Category attributes: the extra questions a category asks when a problem is reported.

A leaf category may carry a list of attribute definitions (data, in the category document
and the admin). They follow the Open311 service-definition model, so the same rows drive the
report form, the JSON API and ``GET services/{code}``:

``code``
    the answer's key (``light_state``), lower-case letters, digits and ``_``.
``datatype``
    ``string`` (one line, ≤ 200 characters), ``text`` (≤ 2000), ``number``, ``datetime``
    (W3C, with a zone), ``singlevaluelist`` (one key of ``values``), ``multivaluelist``
    (several keys).
``variable``
    ``false`` for an informational line that takes no answer.
``required``, ``order``, ``description``/``description_en`` (the question),
``datatype_description``/``datatype_description_en`` (a hint on the format),
``values`` (``[{key, name, name_en}]`` for the two list types).

:func:`check_attribute_answers` turns raw answers into the cleaned dict stored on the case, or
raises a :class:`CaseError` whose ``field`` is ``attributes.<code>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from civicgrid.core.datetimes import W3DateTimeError, format_w3_datetime, parse_w3_datetime
from civicgrid.core.names import pick_name, reader_wants_english

from .errors import CaseError

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = frozenset({"singlevaluelist", "multivaluelist"})
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VALUE_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_ATTRIBUTES = 20
MAX_VALUES = 50
MAX_STRING = 200
MAX_TEXT = 2000
MAX_DESCRIPTION = 300
DEFINITION_KEYS = frozenset(
    {
        "code",
        "datatype",
        "variable",
        "required",
        "order",
        "description",
        "description_en",
        "datatype_description",
        "datatype_description_en",
        "values",
    }
)
VALUE_KEYS = frozenset({"key", "name", "name_en"})

Problem = tuple[str, str]  # (path, message)


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: str
    name_en: str

    @property
    def display_name(self) -> str:
        return pick_name(self.name, self.name_en)


@dataclass(frozen=True)
class AttributeDef:
    """One question of a category, read from the stored definition."""

    code: str
    datatype: str
    variable: bool
    required: bool
    order: int
    description: str
    description_en: str
    datatype_description: str
    datatype_description_en: str
    values: tuple[AttributeValue, ...]

    @property
    def display_description(self) -> str:
        return pick_name(self.description, self.description_en)

    @property
    def display_datatype_description(self) -> str:
        if reader_wants_english() and self.datatype_description_en:
            return self.datatype_description_en
        return self.datatype_description

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(v.key for v in self.values)

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> AttributeDef:
        return cls(
            code=item["code"],
            datatype=item["datatype"],
            variable=item.get("variable", True),
            required=item.get("required", False) and item.get("variable", True),
            order=item.get("order", 0),
            description=item.get("description", ""),
            description_en=item.get("description_en", ""),
            datatype_description=item.get("datatype_description", ""),
            datatype_description_en=item.get("datatype_description_en", ""),
            values=tuple(
                AttributeValue(v["key"], v.get("name", ""), v.get("name_en", ""))
                for v in item.get("values", ())
            ),
        )


def category_attributes(category: Any) -> list[AttributeDef]:
    """The category's questions in their display order (``order``, then position)."""
    items = list(getattr(category, "attributes", None) or [])
    defs = [AttributeDef.from_dict(item) for item in items]
    return sorted(defs, key=lambda d: d.order)


# --------------------------------------------------------------------------- definitions


def _def_text(
    item: Mapping[str, Any], key: str, path: str, problems: list[Problem], *, required: bool
) -> str:
    value = item.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append((f"{path}.{key}", _("This must be a string.")))
        return ""
    value = value.strip()
    if required and not value:
        problems.append((f"{path}.{key}", _("This field must not be empty.")))
    if len(value) > MAX_DESCRIPTION:
        problems.append(
            (
                f"{path}.{key}",
                _("This is %(length)d characters long; at most %(max)d are allowed.")
                % {"length": len(value), "max": MAX_DESCRIPTION},
            )
        )
    return value


def _def_values(value: Any, path: str, problems: list[Problem]) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        problems.append((path, _("A list attribute needs a non-empty list of values.")))
        return []
    if len(value) > MAX_VALUES:
        problems.append((path, _("At most %(max)d values are allowed.") % {"max": MAX_VALUES}))
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        vpath = f"{path}[{index}]"
        if not isinstance(entry, dict):
            problems.append((vpath, _("A value must be an object with key, name and name_en.")))
            continue
        for extra in sorted(set(entry) - VALUE_KEYS):
            problems.append((f"{vpath}.{extra}", _("Unknown key.")))
        key = entry.get("key")
        if not isinstance(key, str) or not VALUE_KEY_RE.match(key):
            problems.append(
                (
                    f"{vpath}.key",
                    _("A value key is 1 to 40 letters, digits, '_', '.' or '-'."),
                )
            )
            continue
        if key in seen:
            problems.append((f"{vpath}.key", _("Key %(key)s is used twice.") % {"key": key}))
            continue
        seen.add(key)
        name = _def_text(entry, "name", vpath, problems, required=True)
        name_en = _def_text(entry, "name_en", vpath, problems, required=False)
        out.append({"key": key, "name": name, "name_en": name_en})
    return out


def parse_attribute_definitions(
    value: Any, path: str
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Check a category's ``attributes`` list; return the normalized list and every problem.

    The normalized list has every key filled (``variable`` true, ``required`` false, ``order``
    its position + 1 unless given) so stored rows are uniform.
    """
    problems: list[Problem] = []
    if value is None:
        return [], problems
    if not isinstance(value, list):
        problems.append((path, _("Attributes must be a list of definitions.")))
        return [], problems
    if len(value) > MAX_ATTRIBUTES:
        problems.append(
            (path, _("At most %(max)d attributes are allowed.") % {"max": MAX_ATTRIBUTES})
        )
    out: list[dict[str, Any]] = []
    codes: set[str] = set()
    for index, item in enumerate(value):
        apath = f"{path}[{index}]"
        if not isinstance(item, dict):
            problems.append((apath, _("An attribute must be an object.")))
            continue
        for extra in sorted(set(item) - DEFINITION_KEYS):
            problems.append((f"{apath}.{extra}", _("Unknown key.")))
        code = item.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            problems.append(
                (
                    f"{apath}.code",
                    _(
                        "An attribute code starts with a lower-case letter and has up to 40 "
                        "lower-case letters, digits and '_'."
                    ),
                )
            )
            continue
        if code in codes:
            problems.append((f"{apath}.code", _("Code %(code)s is used twice.") % {"code": code}))
            continue
        codes.add(code)
        datatype = item.get("datatype")
        if datatype not in DATATYPES:
            problems.append(
                (
                    f"{apath}.datatype",
                    _("Unknown datatype %(value)s; use one of: %(choices)s.")
                    % {"value": datatype, "choices": ", ".join(DATATYPES)},
                )
            )
            continue
        flags: dict[str, bool] = {}
        for flag, default in (("variable", True), ("required", False)):
            raw = item.get(flag, default)
            if not isinstance(raw, bool):
                problems.append((f"{apath}.{flag}", _("This must be true or false.")))
                raw = default
            flags[flag] = raw
        order = item.get("order", index + 1)
        if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 1000:
            problems.append((f"{apath}.order", _("Order must be a whole number from 0 to 1000.")))
            order = index + 1
        definition: dict[str, Any] = {
            "code": code,
            "datatype": datatype,
            "variable": flags["variable"],
            "required": flags["required"] and flags["variable"],
            "order": order,
            "description": _def_text(item, "description", apath, problems, required=True),
            "description_en": _def_text(item, "description_en", apath, problems, required=False),
            "datatype_description": _def_text(
                item, "datatype_description", apath, problems, required=False
            ),
            "datatype_description_en": _def_text(
                item, "datatype_description_en", apath, problems, required=False
            ),
        }
        if datatype in LIST_DATATYPES:
            definition["values"] = _def_values(item.get("values"), f"{apath}.values", problems)
        elif "values" in item:
            problems.append((f"{apath}.values", _("Only list datatypes take values.")))
        out.append(definition)
    return out, problems


def compact_attribute_definitions(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored (normalized) definitions without their default values, as a document
    author writes them; :func:`parse_attribute_definitions` reads it back unchanged."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(definitions):
        defaults = {"variable": True, "required": False, "order": index + 1}
        out.append(
            {
                key: value
                for key, value in item.items()
                if value != "" and not (key in defaults and defaults[key] == value)
            }
        )
    return out


# --------------------------------------------------------------------------- answers


def _bad(code: str, message: str) -> CaseError:
    return CaseError(CaseError.Code.BAD_ATTRIBUTE, message, field=f"attributes.{code}")


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(_is_blank(v) for v in value)
    return False


def _one(definition: AttributeDef, value: Any) -> Any:
    """A single scalar out of ``value`` (a one-item list is accepted for form encodings)."""
    if isinstance(value, list | tuple):
        items = [v for v in value if not _is_blank(v)]
        if len(items) != 1:
            raise _bad(
                definition.code,
                _("%(question)s takes one value, not %(count)d.")
                % {"question": _label(definition), "count": len(items)},
            )
        value = items[0]
    return value


def _label(definition: AttributeDef) -> str:
    return f"{definition.code} ({definition.display_description})"


def _not_a_choice(definition: AttributeDef, key: str) -> CaseError:
    return _bad(
        definition.code,
        _("%(value)s is not a choice of %(question)s; choose from: %(choices)s.")
        % {
            "value": key[:40],
            "question": _label(definition),
            "choices": ", ".join(definition.keys),
        },
    )


def _clean_answer(definition: AttributeDef, value: Any) -> Any:
    code = definition.code
    kind = definition.datatype
    if kind == "multivaluelist":
        items = value if isinstance(value, list | tuple) else [value]
        keys: list[str] = []
        for item in items:
            if _is_blank(item):
                continue
            key = str(item).strip()
            if key not in definition.keys:
                raise _not_a_choice(definition, key)
            if key not in keys:
                keys.append(key)
        return keys
    value = _one(definition, value)
    if kind == "singlevaluelist":
        key = str(value).strip()
        if key not in definition.keys:
            raise _not_a_choice(definition, key)
        return key
    if kind == "number":
        if isinstance(value, bool):
            raise _bad(code, _("%(question)s must be a number.") % {"question": _label(definition)})
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or abs(number) > Decimal("1e12"):
            raise _bad(
                code,
                _("%(question)s must be a number such as 3 or 2.5.")
                % {"question": _label(definition)},
            )
        as_float = float(number)
        if not math.isfinite(as_float):  # pragma: no cover - bounded above
            raise _bad(code, _("%(question)s must be a number.") % {"question": _label(definition)})
        return int(number) if number == number.to_integral_value() else as_float
    if kind == "datetime":
        try:
            return format_w3_datetime(parse_w3_datetime(str(value)))
        except W3DateTimeError as exc:
            raise _bad(
                code,
                _(
                    "%(question)s must be a date and time with its zone, such as "
                    "2026-11-28T09:30:00+08:00 (%(reason)s)."
                )
                % {"question": _label(definition), "reason": exc},
            ) from None
    text = str(value).strip()
    limit = MAX_STRING if kind == "string" else MAX_TEXT
    if len(text) > limit:
        raise _bad(
            code,
            _("%(question)s is %(length)d characters long; at most %(max)d are allowed.")
            % {"question": _label(definition), "length": len(text), "max": limit},
        )
    if kind == "string" and ("\n" in text or "\r" in text):
        raise _bad(code, _("%(question)s takes one line.") % {"question": _label(definition)})
    return text


def check_attribute_answers(category: Any, answers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate answers to the category's questions; return the cleaned dict to store.

    Unknown codes, answers to informational lines, missing required answers, values outside a
    list, malformed numbers and date-times are refused with ``cases.bad_attribute`` and
    ``field="attributes.<code>"``. Blank answers count as absent. Answers are checked in the
    questions' order, so the first problem reported is the first on the form.
    """
    answers = dict(answers or {})
    definitions = category_attributes(category)
    by_code = {d.code: d for d in definitions}
    for code in answers:
        definition = by_code.get(code)
        if definition is None or not definition.variable:
            raise CaseError(
                CaseError.Code.BAD_ATTRIBUTE,
                _("Category %(category)s asks no question %(code)s.")
                % {"category": getattr(category, "code", "?"), "code": str(code)[:40]},
                field=f"attributes.{str(code)[:40]}",
            )
    cleaned: dict[str, Any] = {}
    for definition in definitions:
        if not definition.variable:
            continue
        raw = answers.get(definition.code)
        if _is_blank(raw):
            if definition.required:
                raise _bad(
                    definition.code,
                    _("Answer %(question)s: it is required for this category.")
                    % {"question": _label(definition)},
                )
            continue
        cleaned[definition.code] = _clean_answer(definition, raw)
    return cleaned
