"""Checking GeoJSON polygons before they are stored, and turning stored ones into shapely shapes.

Geometry is stored as GeoJSON (WGS84, ``[lng, lat]`` positions) in JSON fields; shapely is only the
calculator. A polygon is accepted when its JSON has the right shape, every position is a pair of
finite numbers within range, every ring is closed, and shapely finds it valid and not empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from django.utils.translation import gettext_lazy as _
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .errors import GeoError, excerpt

POLYGON_TYPES = ("Polygon", "MultiPolygon")

# Share of a cell's area that may overlap a neighbour or lie outside its parent before it counts:
# shared borders digitised twice never match to the last bit.
AREA_TOLERANCE_SHARE = 1e-6


@dataclass(frozen=True)
class GeometryProblem:
    code: GeoError.Code
    message: str


class _Invalid(Exception):
    def __init__(self, code: GeoError.Code, message: Any) -> None:
        self.problem = GeometryProblem(code, str(message))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _position(value: Any, where: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise _Invalid(
            GeoError.Code.BAD_POLYGON,
            _("%(where)s: a position must be a list [longitude, latitude].") % {"where": where},
        )
    if not all(_is_number(v) for v in value):
        raise _Invalid(
            GeoError.Code.NOT_A_NUMBER,
            _("%(where)s: coordinates must be numbers.") % {"where": where},
        )
    try:
        floats = [float(v) for v in value]
    except OverflowError:  # an integer beyond any float (JSON allows 1000 digits)
        raise _Invalid(
            GeoError.Code.OUT_OF_RANGE,
            _("%(where)s: a coordinate is far outside -180..180.") % {"where": where},
        ) from None
    if not all(math.isfinite(v) for v in floats):
        raise _Invalid(
            GeoError.Code.NOT_A_NUMBER,
            _("%(where)s: coordinates must be finite numbers.") % {"where": where},
        )
    lng, lat = floats[0], floats[1]
    if not -180.0 <= lng <= 180.0:
        raise _Invalid(
            GeoError.Code.OUT_OF_RANGE,
            _("%(where)s: longitude %(lng)s is outside -180..180.") % {"where": where, "lng": lng},
        )
    if not -90.0 <= lat <= 90.0:
        raise _Invalid(
            GeoError.Code.OUT_OF_RANGE,
            _("%(where)s: latitude %(lat)s is outside -90..90.") % {"where": where, "lat": lat},
        )
    return floats


def _ring(value: Any, where: str) -> list[list[float]]:
    if not isinstance(value, list | tuple):
        raise _Invalid(
            GeoError.Code.BAD_POLYGON,
            _("%(where)s must be a list of positions.") % {"where": where},
        )
    if len(value) < 4:
        raise _Invalid(
            GeoError.Code.BAD_POLYGON,
            _("%(where)s has %(count)d positions; a ring needs at least 4.")
            % {"where": where, "count": len(value)},
        )
    ring = [
        _position(p, _("%(where)s, position %(n)d") % {"where": where, "n": i})
        for i, p in enumerate(value)
    ]
    if ring[0][:2] != ring[-1][:2]:
        raise _Invalid(
            GeoError.Code.BAD_POLYGON,
            _("%(where)s is not closed: its first and last positions differ.") % {"where": where},
        )
    return ring


def _polygon(value: Any, where: str) -> list[list[list[float]]]:
    if not isinstance(value, list | tuple) or not value:
        raise _Invalid(
            GeoError.Code.BAD_POLYGON,
            _("%(where)s must be a non-empty list of rings.") % {"where": where},
        )
    return [
        _ring(r, _("%(where)s, ring %(n)d") % {"where": where, "n": i}) for i, r in enumerate(value)
    ]


def check_polygon(geometry: Any) -> tuple[dict[str, Any], BaseGeometry]:
    """Check a GeoJSON Polygon/MultiPolygon; return it normalised (floats) and as a shapely shape.

    Raises :class:`GeometryError` holding one :class:`GeometryProblem` on the first thing wrong.
    """
    try:
        if not isinstance(geometry, dict):
            raise _Invalid(GeoError.Code.BAD_GEOJSON, _("The geometry must be a GeoJSON object."))
        kind = geometry.get("type")
        if kind not in POLYGON_TYPES:
            raise _Invalid(
                GeoError.Code.BAD_GEOJSON,
                _("The geometry must be a Polygon or MultiPolygon, not %(type)s.")
                % {"type": excerpt(kind)},
            )
        coords = geometry.get("coordinates")
        if kind == "Polygon":
            normalised: Any = _polygon(coords, str(_("polygon")))
        else:
            if not isinstance(coords, list | tuple) or not coords:
                raise _Invalid(
                    GeoError.Code.BAD_POLYGON,
                    _("A MultiPolygon must be a non-empty list of polygons."),
                )
            normalised = [
                _polygon(p, str(_("polygon %(n)d") % {"n": i})) for i, p in enumerate(coords)
            ]
        clean = {"type": kind, "coordinates": normalised}
        try:
            geom = shape(clean)
        except (ValueError, TypeError, GEOSException) as exc:
            raise _Invalid(
                GeoError.Code.BAD_POLYGON,
                _("The polygon cannot be built: %(reason)s.") % {"reason": str(exc)[:200]},
            ) from exc
        if not geom.is_empty and not geom.is_valid:
            raise _Invalid(
                GeoError.Code.BAD_POLYGON,
                _("The polygon is not valid: %(reason)s.")
                % {"reason": shapely.is_valid_reason(geom)},
            )
        if geom.is_empty or geom.area <= 0:
            raise _Invalid(GeoError.Code.BAD_POLYGON, _("The polygon is empty (it has no area)."))
    except _Invalid as exc:
        raise GeometryError(exc.problem) from None
    return clean, geom


LINE_TYPES = ("LineString", "MultiLineString")


def _line(value: Any, where: str) -> list[list[float]]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise _Invalid(
            GeoError.Code.BAD_GEOJSON,
            _("%(where)s must be a list of at least 2 positions.") % {"where": where},
        )
    return [
        _position(p, _("%(where)s, position %(n)d") % {"where": where, "n": i})
        for i, p in enumerate(value)
    ]


def check_line(geometry: Any) -> dict[str, Any]:
    """Check a GeoJSON LineString/MultiLineString; return it normalised (floats).

    Raises :class:`GeometryError` on the first thing wrong."""
    try:
        if not isinstance(geometry, dict) or geometry.get("type") not in LINE_TYPES:
            found = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise _Invalid(
                GeoError.Code.BAD_GEOJSON,
                _("The geometry must be a LineString or MultiLineString, not %(type)s.")
                % {"type": excerpt(found)},
            )
        coords = geometry.get("coordinates")
        if geometry["type"] == "LineString":
            normalised: Any = _line(coords, str(_("line")))
        else:
            if not isinstance(coords, list | tuple) or not coords:
                raise _Invalid(
                    GeoError.Code.BAD_GEOJSON,
                    _("A MultiLineString must be a non-empty list of lines."),
                )
            normalised = [_line(p, str(_("line %(n)d") % {"n": i})) for i, p in enumerate(coords)]
    except _Invalid as exc:
        raise GeometryError(exc.problem) from None
    return {"type": geometry["type"], "coordinates": normalised}


def check_point(geometry: Any) -> dict[str, Any]:
    """Check a GeoJSON Point; return it normalised (floats)."""
    try:
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            found = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise _Invalid(
                GeoError.Code.BAD_GEOJSON,
                _("The geometry must be a Point, not %(type)s.") % {"type": excerpt(found)},
            )
        position = _position(geometry.get("coordinates"), str(_("point")))
    except _Invalid as exc:
        raise GeometryError(exc.problem) from None
    return {"type": "Point", "coordinates": position}


class GeometryError(Exception):
    def __init__(self, problem: GeometryProblem) -> None:
        self.problem = problem
        super().__init__(problem.message)


def to_shape(geometry: dict[str, Any]) -> BaseGeometry:
    """A stored (already checked) GeoJSON geometry as a shapely shape."""
    return shape(geometry)
