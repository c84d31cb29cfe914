"""Point → grid cell lookup over an in-memory shapely STRtree, cached per process.

The index holds every active cell's polygon (prepared), ordered by cell code, so the position of a
polygon in the tree is also its rank by code. A point on a shared border intersects several cells;
it gets the one with the lowest code, chosen with numpy over the whole batch (no Python loop per
point), so the answer is the same on every run and every machine.

Cache invalidation works across processes: every write to areas or cells increments the one
:class:`~civicgrid.geo.models.GeoVersion` row. A process compares that row's (version, updated_at)
with the stamp its index was built from at most once per ``CIVICGRID_GEO_CACHE_CHECK_S`` seconds
(default 1) and rebuilds when it differs. Writes made in this process drop the index at once.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from shapely import STRtree

from .errors import GeoError
from .geometry import to_shape
from .models import GeoVersion, GridCell

Stamp = tuple[int, Any]


@dataclass(frozen=True)
class CellIndex:
    """An immutable snapshot of the active cells: tree position = rank by code."""

    stamp: Stamp
    tree: STRtree | None
    polygons: np.ndarray  # shapely polygons, prepared, ordered by code
    codes: tuple[str, ...]
    # Cell id by rank, with one extra trailing -1 so "no cell" maps through the same take().
    ids: np.ndarray

    @property
    def count(self) -> int:
        return len(self.codes)


_lock = threading.Lock()
_index: CellIndex | None = None
_checked_at = -math.inf


def _check_interval_s() -> float:
    return float(getattr(settings, "CIVICGRID_GEO_CACHE_CHECK_S", 1.0))


def current_stamp() -> Stamp:
    """The version row's (version, updated_at); (0, None) before the first write."""
    row = GeoVersion.objects.filter(pk=1).values_list("version", "updated_at").first()
    return (row[0], row[1]) if row else (0, None)


def invalidate_local() -> None:
    """Drop this process's index; the next lookup rebuilds it. Called by every geo write."""
    global _index, _checked_at
    with _lock:
        _index = None
        _checked_at = -math.inf


def build_index(stamp: Stamp) -> CellIndex:
    rows = list(
        GridCell.objects.filter(is_active=True)
        .order_by("code")
        .values_list("id", "code", "geometry")
    )
    polygons = np.array([to_shape(geometry) for _, _, geometry in rows], dtype=object)
    ids = np.array([pk for pk, _, _ in rows] + [-1], dtype=np.int64)
    if len(rows):
        shapely.prepare(polygons)
        tree: STRtree | None = STRtree(polygons)
    else:
        tree = None
    return CellIndex(
        stamp=stamp, tree=tree, polygons=polygons, codes=tuple(c for _, c, _ in rows), ids=ids
    )


def get_index() -> CellIndex:
    """The current index, rebuilt when the version row changed (checked at most once a second)."""
    global _index, _checked_at
    index = _index
    if index is not None and time.monotonic() - _checked_at < _check_interval_s():
        return index
    with _lock:
        stamp = current_stamp()
        if _index is None or _index.stamp != stamp:
            _index = build_index(stamp)
        _checked_at = time.monotonic()
        return _index


def _coordinates(values: Any, field: str, limit: float) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise GeoError(
            GeoError.Code.NOT_A_NUMBER,
            _("The %(field)s values must be numbers.") % {"field": field},
            field=field,
        ) from None
    # One pass for the common case: |x| <= limit is False for NaN as well as for out-of-range.
    in_range = np.abs(array) <= limit
    if in_range.all():
        return array
    first = int(np.flatnonzero(~in_range.ravel())[0])
    value = float(array.ravel()[first])
    if not math.isfinite(value):
        raise GeoError(
            GeoError.Code.NOT_A_NUMBER,
            _("The %(field)s value at position %(index)d is not a finite number.")
            % {"field": field, "index": first},
            field=field,
            details={"index": first},
        )
    raise GeoError(
        GeoError.Code.OUT_OF_RANGE,
        _("The %(field)s value %(value)s at position %(index)d is outside -%(limit)s..%(limit)s.")
        % {"field": field, "value": value, "index": first, "limit": int(limit)},
        field=field,
        details={"index": first},
    )


def locate_many(lats: Any, lngs: Any) -> np.ndarray:
    """Cell ids (int64) for many points at once; -1 where no active cell covers the point.

    ``lats`` and ``lngs`` are array-likes of the same shape (WGS84 degrees); the result has that
    shape. Raises GeoError (field ``lat``/``lng``) for non-numbers, non-finite values or values
    out of range. Points on a border shared by several cells get the cell with the lowest code.
    """
    lat_array = _coordinates(lats, "lat", 90.0)
    lng_array = _coordinates(lngs, "lng", 180.0)
    if lat_array.shape != lng_array.shape:
        raise GeoError(
            GeoError.Code.BAD_GEOJSON,
            _("There must be as many longitudes as latitudes."),
            field="lng",
        )
    shape = lat_array.shape
    count = lat_array.size
    index = get_index()
    if index.tree is None or count == 0:
        return np.full(shape, -1, dtype=np.int64)
    points = shapely.points(lng_array.ravel(), lat_array.ravel())
    point_idx, cell_rank = index.tree.query(points, predicate="intersects")
    rank = np.full(count, index.count, dtype=np.intp)
    rank[point_idx] = cell_rank
    # Where a point hit several cells, the assignment above kept an arbitrary one; every hit that
    # lost is folded in with a minimum, so the lowest rank (= lowest code) wins. Ties are rare
    # (points exactly on borders), so this touches few elements.
    lost = rank[point_idx] != cell_rank
    if lost.any():
        np.minimum.at(rank, point_idx[lost], cell_rank[lost])
    return index.ids[rank].reshape(shape)


def _scalar(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise GeoError(
            GeoError.Code.NOT_A_NUMBER,
            _("The %(field)s must be a number.") % {"field": field},
            field=field,
        )
    return float(value)


def locate(lat: float, lng: float) -> GridCell | None:
    """The active cell covering (lat, lng), or None outside every cell.

    Validates like :func:`locate_many`.
    """
    lat_f = _scalar(lat, "lat")
    lng_f = _scalar(lng, "lng")
    cell_id = int(locate_many([lat_f], [lng_f])[0])
    if cell_id < 0:
        return None
    return GridCell.objects.select_related("community").filter(pk=cell_id).first()


def cell_for_point(*, lat: float, lng: float) -> GridCell:
    """Like :func:`locate`, but a point outside every cell is an error the user can act on."""
    cell = locate(lat, lng)
    if cell is None:
        raise GeoError(
            GeoError.Code.OUTSIDE_GRID,
            _(
                "No grid cell covers the point at latitude %(lat)s, longitude %(lng)s; "
                "it lies outside the area this platform serves."
            )
            % {"lat": lat, "lng": lng},
            field="location",
        )
    return cell
