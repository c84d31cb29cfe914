"""Point → grid cell lookup over an in-memory shapely STRtree, cached per process.

The index holds every active cell's polygon (prepared), ordered by cell code, so the position of a
polygon in the tree is also its rank by code. A point on a shared border intersects several cells;
it gets the one with the lowest code, so the answer is the same on every run and every machine.

Lookups make no shapely Point objects. When the index is built, a grid of square bins is laid over
the cells (about :data:`BINS_PER_CELL` bins per cell, at most :data:`MAX_BINS`) and the STRtree
answers, once, which cells meet each bin. A bin met by one cell that covers it is *direct*: every
point in it belongs to that cell. A bin met by none is empty. The rest are *mixed* and keep their
candidate cells in code order. ``locate_many`` then needs numpy only (the bin of each point, one
``take``) except for points in mixed bins, which are tested against their candidates, lowest code
first, with ``shapely.intersects_xy`` on the prepared polygons; the first hit wins. The answer is
exactly the one of ``tree.query(points, predicate="intersects")`` with the lowest code kept: bin
sides are powers of two on a grid anchored at a multiple of the side, so the bin arithmetic is
exact in floating point and a point always lies in the closed box of the bin it is put in.

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

# Bins laid over the cells' bounds per cell (then rounded to a power-of-two side), and at most.
BINS_PER_CELL = 128
MAX_BINS = 2_000_000
# Bin boxes made and queried at a time while building, to bound the memory a large city needs.
_BUILD_CHUNK_BINS = 65_536


@dataclass(frozen=True)
class BinGrid:
    """Square bins of side ``2**exponent`` degrees (exponent <= 0); bin (i, j) is the closed box
    ``[(x0 + i) * side, (x0 + i + 1) * side] × [(y0 + j) * side, (y0 + j + 1) * side]``.

    ``code[b]`` tells what bin ``b = j * nx + i`` holds: a cell rank (< ``cells``) for a direct
    bin, ``cells`` for an empty one, ``cells + 1 + m`` for the m-th mixed bin, whose candidate
    ranks, ascending, are ``ranks[indptr[m]:indptr[m + 1]]``. One extra trailing entry
    (``code[nx * ny]``) is the "outside every bin" answer, ``cells``.
    """

    scale: float  # 1 / side, a power of two >= 1, so x * scale is exact
    x0: float  # integer-valued: the first bin's west edge is x0 * side
    y0: float
    nx: int
    ny: int
    code: np.ndarray  # int32, nx * ny + 1
    indptr: np.ndarray  # intp, mixed bins + 1
    ranks: np.ndarray  # intp

    @property
    def mixed_count(self) -> int:
        return len(self.indptr) - 1


@dataclass(frozen=True)
class CellIndex:
    """An immutable snapshot of the active cells: tree position = rank by code."""

    stamp: Stamp
    tree: STRtree | None
    polygons: np.ndarray  # shapely polygons, prepared, ordered by code
    codes: tuple[str, ...]
    # Cell id by rank, with one extra trailing -1 so "no cell" maps through the same take().
    ids: np.ndarray
    bins: BinGrid | None

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


def _bin_layout(polygons: np.ndarray) -> tuple[int, float, float, int, int]:
    """(exponent, x0, y0, nx, ny) of a bin grid with about BINS_PER_CELL bins per cell.

    The side is a power of two no larger than 1° (so scaling a coordinate by 1 / side is exact,
    even for subnormal numbers), and the grid starts at a multiple of the side.
    """
    min_x, min_y, max_x, max_y = (float(v) for v in shapely.total_bounds(polygons))
    target = min(len(polygons) * BINS_PER_CELL, MAX_BINS)
    side = math.sqrt(max((max_x - min_x) * (max_y - min_y), 1e-300) / target)
    exponent = min(0, round(math.log2(side)))
    while True:
        scale = math.ldexp(1.0, -exponent)
        x0, y0 = math.floor(min_x * scale), math.floor(min_y * scale)
        nx = math.floor(max_x * scale) - x0 + 1
        ny = math.floor(max_y * scale) - y0 + 1
        # 360° × 180° in 1° bins is 64,800 bins, so this stops with exponent <= 0.
        if nx * ny <= MAX_BINS:
            return exponent, float(x0), float(y0), nx, ny
        exponent += 1


def _bin_grid(polygons: np.ndarray, tree: STRtree) -> BinGrid:
    """Classify every bin as direct, empty or mixed with one vectorised tree query per chunk."""
    cells = len(polygons)
    exponent, x0, y0, nx, ny = _bin_layout(polygons)
    side = math.ldexp(1.0, exponent)
    scale = math.ldexp(1.0, -exponent)
    code = np.full(nx * ny + 1, cells, dtype=np.int64)
    mixed_bins: list[np.ndarray] = []
    mixed_ranks: list[np.ndarray] = []
    mixed_counts: list[np.ndarray] = []
    rows_per_chunk = max(1, _BUILD_CHUNK_BINS // nx)
    xs = (x0 + np.arange(nx + 1, dtype=np.float64)) * side  # exact: integers times 2**exponent
    for j_start in range(0, ny, rows_per_chunk):
        j_stop = min(ny, j_start + rows_per_chunk)
        ys = (y0 + np.arange(j_start, j_stop + 1, dtype=np.float64)) * side
        south, west = np.meshgrid(ys[:-1], xs[:-1], indexing="ij")
        north, east = np.meshgrid(ys[1:], xs[1:], indexing="ij")
        boxes = shapely.box(west.ravel(), south.ravel(), east.ravel(), north.ravel())
        first_bin = j_start * nx
        # Bounding-box candidates from the tree, then the exact test with the prepared polygon:
        # the same pairs as query(..., predicate="intersects"), which would prepare every box.
        box_idx, rank = tree.query(boxes)
        # The common case first: a bin within the bounding box of one cell only, covered by it.
        lone = (np.bincount(box_idx, minlength=len(boxes)) == 1)[box_idx]
        covered_pair = np.zeros(len(box_idx), dtype=bool)
        covered_pair[lone] = shapely.covers(polygons[rank[lone]], boxes[box_idx[lone]])
        code[first_bin + box_idx[covered_pair]] = rank[covered_pair]
        box_idx, rank = box_idx[~covered_pair], rank[~covered_pair]
        meets = shapely.intersects(polygons[rank], boxes[box_idx])
        box_idx, rank = box_idx[meets], rank[meets]
        order = np.lexsort((rank, box_idx))  # by bin, then by rank (= code order)
        box_idx, rank = box_idx[order], rank[order]
        bins, starts, counts = np.unique(box_idx, return_index=True, return_counts=True)
        single = counts == 1
        single_bins, single_ranks = bins[single], rank[starts[single]]
        covered = shapely.covers(polygons[single_ranks], boxes[single_bins])
        code[first_bin + single_bins[covered]] = single_ranks[covered]
        is_mixed = np.ones(len(bins), dtype=bool)
        is_mixed[np.flatnonzero(single)[covered]] = False
        mixed_bins.append(first_bin + bins[is_mixed])
        mixed_counts.append(counts[is_mixed])
        keep = np.repeat(is_mixed, counts)
        mixed_ranks.append(rank[keep])
        del boxes
    flat_bins = np.concatenate(mixed_bins) if mixed_bins else np.empty(0, dtype=np.intp)
    counts_all = np.concatenate(mixed_counts) if mixed_counts else np.empty(0, dtype=np.intp)
    code[flat_bins] = cells + 1 + np.arange(len(flat_bins))
    indptr = np.zeros(len(flat_bins) + 1, dtype=np.intp)
    np.cumsum(counts_all, out=indptr[1:])
    ranks = np.concatenate(mixed_ranks).astype(np.intp) if mixed_ranks else np.empty(0, np.intp)
    if code.max() < np.iinfo(np.int32).max:
        code = code.astype(np.int32)
    return BinGrid(scale=scale, x0=x0, y0=y0, nx=nx, ny=ny, code=code, indptr=indptr, ranks=ranks)


def build_index(stamp: Stamp) -> CellIndex:
    rows = list(
        GridCell.objects.filter(is_active=True)
        .order_by("code")
        .values_list("id", "code", "geometry")
    )
    polygons = np.array([to_shape(geometry) for _, _, geometry in rows], dtype=object)
    ids = np.array([pk for pk, _, _ in rows] + [-1], dtype=np.int64)
    tree: STRtree | None = None
    bins: BinGrid | None = None
    if len(rows):
        shapely.prepare(polygons)
        tree = STRtree(polygons)
        bins = _bin_grid(polygons, tree)
    return CellIndex(
        stamp=stamp,
        tree=tree,
        polygons=polygons,
        codes=tuple(c for _, c, _ in rows),
        ids=ids,
        bins=bins,
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


def _bin_of(bins: BinGrid, lngs: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """The flat bin index of each point; ``nx * ny`` for points outside the bin grid.

    ``floor(x * scale)`` is exact (scale is a power of two >= 1), so a point lies in the closed
    box of the bin it gets; a point on a bin edge gets the bin to its north-east.
    """
    col = np.multiply(lngs, bins.scale)
    np.floor(col, out=col)
    col -= bins.x0
    row = np.multiply(lats, bins.scale)
    np.floor(row, out=row)
    row -= bins.y0
    inside = col >= 0
    inside &= col < bins.nx
    inside &= row >= 0
    inside &= row < bins.ny
    row *= bins.nx
    row += col
    flat = row.astype(np.intp)
    if not inside.all():
        flat[~inside] = bins.nx * bins.ny
    return flat


def _resolve_mixed(
    index: CellIndex, bins: BinGrid, rank: np.ndarray, lngs: np.ndarray, lats: np.ndarray
) -> None:
    """Replace the mixed-bin codes in ``rank`` with the lowest-code cell covering each point.

    Candidates are tried in code order, all points at once per round: round k tests every point
    still unresolved against the k-th candidate of its bin. A point meeting none gets "no cell".
    """
    cells = index.count
    points = np.flatnonzero(rank > cells)
    if not len(points):
        return
    mixed = rank[points].astype(np.intp) - (cells + 1)
    # Points of the same bin next to each other: each polygon's data stays in cache.
    order = np.argsort(mixed, kind="stable")
    points, mixed = points[order], mixed[order]
    first = bins.indptr[mixed]
    left = bins.indptr[mixed + 1] - first
    rank[points] = cells
    xs, ys = lngs[points], lats[points]
    slot = 0
    while len(points):
        candidate = bins.ranks[first + slot]
        hit = shapely.intersects_xy(index.polygons[candidate], xs, ys)
        rank[points[hit]] = candidate[hit]
        more = ~hit
        more &= left > slot + 1
        points, first, left, xs, ys = points[more], first[more], left[more], xs[more], ys[more]
        slot += 1


def locate_many(lats: Any, lngs: Any) -> np.ndarray:
    """Cell ids (int64) for many points at once; -1 where no active cell covers the point.

    ``lats`` and ``lngs`` are array-likes of the same shape (WGS84 degrees); the result has that
    shape. Raises GeoError (field ``lat``/``lng``) for non-numbers, non-finite values or values
    out of range. A point covered by a cell (inside it or on its boundary) gets that cell; a point
    on a border shared by several cells gets the cell with the lowest code.
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
    index = get_index()
    bins = index.bins
    if bins is None or lat_array.size == 0:
        return np.full(shape, -1, dtype=np.int64)
    lng_flat, lat_flat = lng_array.ravel(), lat_array.ravel()
    rank = bins.code.take(_bin_of(bins, lng_flat, lat_flat))
    _resolve_mixed(index, bins, rank, lng_flat, lat_flat)
    return index.ids.take(rank).reshape(shape)


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
