"""The one error type of the geo app."""

from __future__ import annotations

import enum
from typing import Any

from civicgrid.core.errors import CivicError


class GeoError(CivicError):
    """Errors of areas, grid import and point lookup: each names what is wrong and where.

    A refused grid import carries every problem found in ``details["problems"]``, each a dict
    with the feature ``index``, its ``code`` (when readable), a machine ``problem`` code and a
    translated ``message``.
    """

    class Code(enum.StrEnum):
        BAD_JSON = "geo.bad_json"
        BAD_GEOJSON = "geo.bad_geojson"
        BAD_CODE = "geo.bad_code"
        BAD_LEVEL = "geo.bad_level"
        BAD_PREFIX = "geo.bad_prefix"
        BAD_POLYGON = "geo.bad_polygon"
        BAD_NAME = "geo.bad_name"
        BAD_CELL_TYPE = "geo.bad_cell_type"
        DUPLICATE_CODE = "geo.duplicate_code"
        OVERLAP = "geo.overlap"
        OUTSIDE_PARENT = "geo.outside_parent"
        UNKNOWN_PARENT = "geo.unknown_parent"
        UNKNOWN_AREA = "geo.unknown_area"
        OUT_OF_RANGE = "geo.out_of_range"
        NOT_A_NUMBER = "geo.not_a_number"
        OUTSIDE_GRID = "geo.outside_grid"
        AREA_EXISTS = "geo.area_exists"
        BAD_ROLE = "geo.bad_role"
        BAD_DATES = "geo.bad_dates"
        MEMBER_OVERLAP = "geo.member_overlap"
        ALREADY_ENDED = "geo.already_ended"
        BAD_BASEMAP_KIND = "geo.bad_basemap_kind"
        TOO_LARGE = "geo.too_large"


def excerpt(value: Any, limit: int = 40) -> str:
    """``value`` as text for a message, at most ``limit`` characters, never raising.

    Input read from a file can be anything: an integer too long to print (Python refuses more
    than 4300 digits), a structure nested too deeply, a NUL or a lone surrogate that would
    break a terminal or a log line. Such a value is named by its type, and characters that
    cannot be shown are written as escapes (``\\x00``, ``\\ud800``).
    """
    try:
        text = str(value)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])


def unstorable(text: str) -> bool:
    """True when ``text`` holds a character no database here can store: NUL (PostgreSQL
    refuses it in text) or a lone surrogate (not encodable as UTF-8)."""
    return "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text)
