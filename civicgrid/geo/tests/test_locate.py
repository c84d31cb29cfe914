"""Point → grid cell lookup: single and vectorised, borders, validation and cache invalidation."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.geo import services
from civicgrid.geo.errors import GeoError
from civicgrid.geo.locate import cell_for_point, locate, locate_many
from civicgrid.geo.models import GeoVersion, GridCell

from .factories import COMMUNITY, NORTH, STEP, WEST, cell_feature, grid_3x3, import_grid_3x3

C = COMMUNITY
SOUTH, EAST = NORTH - 3 * STEP, WEST + 3 * STEP


def lng_line(i: int) -> float:
    """The i-th meridian of the grid, exactly as the grid's polygons carry it."""
    return round(WEST + i * STEP, 9)


def lat_line(j: int) -> float:
    return round(NORTH - j * STEP, 9)


def centre(row: int, col: int) -> tuple[float, float]:
    """(lat, lng) of the centre of the cell in ``row`` (north→south) and ``col`` (west→east)."""
    return NORTH - (row + 0.5) * STEP, WEST + (col + 0.5) * STEP


def code_at(lat: float, lng: float) -> str | None:
    cell = locate(lat, lng)
    return cell.code if cell is not None else None


@pytest.mark.django_db
def test_locate_finds_the_cell_containing_the_point():
    # given
    import_grid_3x3()
    # when
    first = code_at(*centre(0, 0))
    middle = cell_for_point(lat=centre(1, 1)[0], lng=centre(1, 1)[1])
    last = code_at(*centre(2, 2))
    # then
    assert (first, middle.code, last) == (f"{C}001", f"{C}005", f"{C}009")
    assert middle.community.code == C


@pytest.mark.django_db
def test_locate_outside_the_grid_returns_none_and_cell_for_point_explains():
    # given
    import_grid_3x3()
    # when
    outside = locate(30.0, 114.0)
    # then
    assert outside is None
    with pytest.raises(GeoError) as info:
        cell_for_point(lat=30.0, lng=114.0)
    assert info.value.code == "geo.outside_grid"
    assert info.value.field == "location"
    assert info.value.message == (
        "No grid cell covers the point at latitude 30.0, longitude 114.0; "
        "it lies outside the area this platform serves."
    )
    assert cell_for_point(lat=centre(0, 1)[0], lng=centre(0, 1)[1]).code == f"{C}002"


@pytest.mark.django_db
def test_points_on_borders_get_the_lowest_code():
    # given
    import_grid_3x3()
    lats = [centre(0, 0)[0], lat_line(2), lat_line(0), lat_line(3), lat_line(1)]
    lngs = [lng_line(1), lng_line(2), lng_line(0), lng_line(3), lng_line(3)]
    # when
    codes = [code_at(lat, lng) for lat, lng in zip(lats, lngs, strict=True)]
    many = locate_many(lats, lngs)
    # then: edge 001|002; corner of 005/006/008/009; outer corner of 001; outer corner of 009;
    # east edge between 003 and 006
    assert codes == [f"{C}001", f"{C}005", f"{C}001", f"{C}009", f"{C}003"]
    ids = dict(GridCell.objects.values_list("code", "id"))
    assert many.tolist() == [ids[str(c)] for c in codes]


@pytest.mark.django_db
def test_locate_many_equals_locate_for_random_points():
    # given
    import_grid_3x3()
    rng = np.random.default_rng(7)
    lats = rng.uniform(SOUTH - STEP, NORTH + STEP, 300)
    lngs = rng.uniform(WEST - STEP, EAST + STEP, 300)
    # when
    many = locate_many(lats, lngs)
    # then
    one_by_one = []
    for lat, lng in zip(lats, lngs, strict=True):
        cell = locate(float(lat), float(lng))
        one_by_one.append(cell.pk if cell else -1)
    assert many.tolist() == one_by_one
    assert many.dtype == np.int64
    assert (many == -1).sum() > 0
    assert (many != -1).sum() > 0


@pytest.mark.django_db
def test_locate_many_keeps_the_input_shape_and_handles_empty_input():
    import_grid_3x3()
    lats = np.full((2, 3), centre(1, 1)[0])
    lngs = np.full((2, 3), centre(1, 1)[1])
    assert locate_many(lats, lngs).shape == (2, 3)
    assert locate_many([], []).tolist() == []


@pytest.mark.django_db
def test_without_cells_nothing_is_found():
    assert locate_many([30.5, 30.6], [114.3, 114.4]).tolist() == [-1, -1]
    assert locate(30.5, 114.3) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lat", "lng", "code", "field"),
    [
        (90.5, 114.3, "geo.out_of_range", "lat"),
        (-91, 114.3, "geo.out_of_range", "lat"),
        (30.5, 180.01, "geo.out_of_range", "lng"),
        (30.5, -200, "geo.out_of_range", "lng"),
        (math.nan, 114.3, "geo.not_a_number", "lat"),
        (30.5, math.inf, "geo.not_a_number", "lng"),
        ("30.5", 114.3, "geo.not_a_number", "lat"),
        (30.5, None, "geo.not_a_number", "lng"),
        (True, 114.3, "geo.not_a_number", "lat"),
    ],
)
def test_bad_coordinates_are_refused(lat, lng, code, field):
    with pytest.raises(GeoError) as info:
        locate(lat, lng)
    assert (info.value.code, info.value.field) == (code, field)
    assert info.value.http_status == 400


@pytest.mark.django_db
def test_locate_many_refuses_bad_arrays_naming_the_position():
    with pytest.raises(GeoError) as info:
        locate_many([30.5, 30.5, 95.0], [114.3, 114.3, 114.3])
    assert (info.value.code, info.value.field, info.value.details) == (
        "geo.out_of_range",
        "lat",
        {"index": 2},
    )
    with pytest.raises(GeoError) as info:
        locate_many([30.5, 30.5], [114.3, np.nan])
    assert (info.value.code, info.value.field) == ("geo.not_a_number", "lng")
    with pytest.raises(GeoError) as info:
        locate_many([30.5, 30.5], [114.3])
    assert info.value.field == "lng"
    with pytest.raises(GeoError) as info:
        locate_many(["a"], [114.3])
    assert (info.value.code, info.value.field) == ("geo.not_a_number", "lat")


@pytest.mark.django_db
def test_a_warm_index_answers_without_queries(django_assert_num_queries, settings):
    # given
    settings.CIVICGRID_GEO_CACHE_CHECK_S = 3600
    import_grid_3x3()
    locate_many([30.5], [114.3])
    # when / then
    with django_assert_num_queries(0):
        found = locate_many([centre(1, 1)[0]], [centre(1, 1)[1]])
    assert found.tolist() == [GridCell.objects.get(code=f"{C}005").pk]


@pytest.mark.django_db
def test_reimport_invalidates_the_cache():
    # given: 001 and 009 swap their polygons in a second import
    import_grid_3x3()
    assert code_at(*centre(0, 0)) == f"{C}001"
    data = grid_3x3()
    first, last = cell_feature(data, f"{C}001"), cell_feature(data, f"{C}009")
    first["geometry"], last["geometry"] = last["geometry"], first["geometry"]
    # when
    services.grid_import(actor=None, geojson=data)
    # then
    assert code_at(*centre(0, 0)) == f"{C}009"
    assert code_at(*centre(2, 2)) == f"{C}001"


@pytest.mark.django_db
def test_deactivating_a_cell_removes_it_from_lookup():
    import_grid_3x3()
    cell = cell_for_point(lat=centre(0, 0)[0], lng=centre(0, 0)[1])
    services.cell_update(actor=None, cell=cell, name=cell.name, is_active=False)
    assert locate(*centre(0, 0)) is None


@pytest.mark.django_db
def test_a_change_made_elsewhere_is_seen_after_the_version_check(settings):
    # given: a warm index, and another writer that changes rows and bumps the version directly
    settings.CIVICGRID_GEO_CACHE_CHECK_S = 0
    import_grid_3x3()
    assert code_at(*centre(0, 0)) == f"{C}001"
    GridCell.objects.filter(code=f"{C}001").update(is_active=False)
    GeoVersion.objects.filter(pk=1).update(version=99)
    # when
    found = locate(*centre(0, 0))
    # then
    assert found is None


def _database_url() -> str | None:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if not name or name == ":memory:" or "mode=memory" in name:
            return None
        return f"sqlite:///{name}"
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return None


IMPORT_SCRIPT = """
import django, json, sys
django.setup()
from civicgrid.geo.services import grid_import
grid_import(actor=None, geojson=sys.stdin.read())
"""


@pytest.mark.django_db(transaction=True)
def test_an_import_in_another_process_reaches_this_process(settings):
    # given: a warm index in this process
    url = _database_url()
    if url is None:
        pytest.skip("the test database lives in memory; another process cannot reach it")
    settings.CIVICGRID_GEO_CACHE_CHECK_S = 0
    import_grid_3x3()
    assert code_at(*centre(0, 0)) == f"{C}001"
    data = grid_3x3()
    first, last = cell_feature(data, f"{C}001"), cell_feature(data, f"{C}009")
    first["geometry"], last["geometry"] = last["geometry"], first["geometry"]
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings.base",
        "CIVICGRID_LOG_LEVEL": "WARNING",
    }
    # when
    import json

    done = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT],
        input=json.dumps(data),
        text=True,
        capture_output=True,
        env=env,
        cwd=root,
        timeout=120,
        check=False,
    )
    # then
    assert done.returncode == 0, done.stderr
    assert code_at(*centre(0, 0)) == f"{C}009"


def _brute_force(points: list[tuple[float, float]]) -> list[int]:
    cells = list(GridCell.objects.filter(is_active=True).order_by("code"))
    shapes = [(c.pk, shapely.geometry.shape(c.geometry)) for c in cells]
    found = []
    for lat, lng in points:
        point = shapely.Point(lng, lat)
        # contains, or lies on the boundary (covers = contains ∪ boundary); lowest code first
        hit = next((pk for pk, poly in shapes if poly.contains(point) or poly.touches(point)), -1)
        found.append(hit)
    return found


# Coordinates drawn anywhere around the grid, or exactly on its grid lines (borders and corners).
grid_lngs = st.sampled_from([lng_line(i) for i in range(4)])
grid_lats = st.sampled_from([lat_line(j) for j in range(4)])
any_lng = st.floats(WEST - STEP, EAST + STEP, allow_nan=False)
any_lat = st.floats(SOUTH - STEP, NORTH + STEP, allow_nan=False)
points_strategy = st.lists(
    st.tuples(st.one_of(any_lat, grid_lats), st.one_of(any_lng, grid_lngs)),
    min_size=1,
    max_size=40,
)


@pytest.mark.django_db
def test_locate_many_agrees_with_brute_force_contains():
    import_grid_3x3()

    @settings(max_examples=150, deadline=None)
    @given(points_strategy)
    def check(points: list[tuple[float, float]]) -> None:
        lats = [p[0] for p in points]
        lngs = [p[1] for p in points]
        assert locate_many(lats, lngs).tolist() == _brute_force(points)

    check()


# --- random polygon grids against brute force --------------------------------------------------

DYADIC = (
    2.0**-20
)  # grid coordinates on this lattice make points at k/8 of an edge lie exactly on it


def _snap(values: np.ndarray) -> np.ndarray:
    return np.round(values / DYADIC) * DYADIC


def _ring(points: list[tuple[float, float]]) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in [*points, points[0]]]


def jittered_grid(seed: int, *, west: float, north: float, rows: int = 4, cols: int = 5) -> dict:
    """A rows × cols grid of non-rectangular quads (every vertex moved at random), with codes in a
    random order, one cell left out (a gap), a cell with an empty hole, and a cell with a hole
    whose island belongs to another cell (a MultiPolygon sharing the hole's whole boundary)."""
    rng = np.random.default_rng(seed)
    step = STEP
    base_x = west + np.arange(cols + 1) * step
    base_y = north - np.arange(rows + 1) * step
    vx = _snap(base_x[None, :] + rng.uniform(-0.25, 0.25, (rows + 1, cols + 1)) * step)
    vy = _snap(base_y[:, None] + rng.uniform(-0.25, 0.25, (rows + 1, cols + 1)) * step)

    def quad(j: int, i: int) -> list[tuple[float, float]]:
        corners = [(j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)]  # counter-clockwise
        return [(vx[a, b], vy[a, b]) for a, b in corners]

    def square_in(j: int, i: int, half: float) -> list[tuple[float, float]]:
        cx = float(_snap(np.array(vx[j : j + 2, i : i + 2].mean())))
        cy = float(_snap(np.array(vy[j : j + 2, i : i + 2].mean())))
        h = float(_snap(np.array(half * step)))
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]

    island = square_in(1, 1, 0.15)
    geometries: dict[tuple[int, int], dict] = {}
    for j in range(rows):
        for i in range(cols):
            if (j, i) == (rows - 1, 0):
                continue  # the gap
            rings = [_ring(quad(j, i))]
            if (j, i) == (1, 1):
                rings.append(_ring(island[::-1]))
            if (j, i) == (0, 2):
                rings.append(_ring(square_in(0, 2, 0.1)[::-1]))
            geometries[(j, i)] = {"type": "Polygon", "coordinates": rings}
    owner = (2, 3)
    geometries[owner] = {
        "type": "MultiPolygon",
        "coordinates": [geometries[owner]["coordinates"], [_ring(island)]],
    }
    numbers = rng.permutation(len(geometries)) + 1
    cells = [
        {
            "type": "Feature",
            "properties": {"code": f"{C}{n:03d}", "name": f"Grid {n}", "cell_type": "basic"},
            "geometry": geometry,
        }
        for n, geometry in zip(numbers, geometries.values(), strict=True)
    ]
    union = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in cells])
    areas = grid_3x3()["features"][:3]
    areas[2]["geometry"] = shapely.geometry.mapping(shapely.Polygon(union.exterior))
    return {"type": "FeatureCollection", "features": areas + cells}


def _special_points(data: dict) -> list[tuple[float, float]]:
    """(lat, lng) of every vertex and of points exactly on every edge (at k/8 of its length)."""
    found: set[tuple[float, float]] = set()
    for feature in data["features"][3:]:
        geometry = shapely.geometry.shape(feature["geometry"])
        parts = getattr(geometry, "geoms", [geometry])
        for part in parts:
            for ring in [part.exterior, *part.interiors]:
                coords = list(ring.coords)
                for (ax, ay), (bx, by) in itertools.pairwise(coords):
                    for k in range(8):
                        found.add((ay + (by - ay) * k / 8, ax + (bx - ax) * k / 8))
    return sorted(found)


def _brute_force_xy(lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    """Ids by testing every active cell in code order (not prepared, no index): first hit wins."""
    found = np.full(len(lats), -1, dtype=np.int64)
    for cell in GridCell.objects.filter(is_active=True).order_by("code"):
        hit = shapely.intersects_xy(shapely.geometry.shape(cell.geometry), lngs, lats)
        found[hit & (found == -1)] = cell.pk
    return found


GRID_PLACES = [
    pytest.param(11, WEST, NORTH, id="wuhan"),
    pytest.param(12, WEST + 0.0005, NORTH - 0.0007, id="wuhan-shifted"),
    pytest.param(13, -0.0043, 0.0041, id="across-zero"),  # bins and points on both sides of 0
]


@pytest.mark.django_db
@pytest.mark.parametrize(("seed", "west", "north"), GRID_PLACES)
def test_locate_many_agrees_with_brute_force_on_a_jittered_grid(seed, west, north):
    # given: a grid with holes, an island, a gap and shuffled codes; points anywhere near it,
    # exactly on vertices, exactly on edges, on power-of-two lattices (bin edges) and near zero
    data = jittered_grid(seed, west=west, north=north)
    services.grid_import(actor=None, geojson=data)
    special = _special_points(data)
    span = 6 * STEP
    lng_lo, lat_hi = west - STEP, north + STEP
    lng_hi, lat_lo = lng_lo + span + 2 * STEP, lat_hi - span - 2 * STEP
    any_point = st.tuples(
        st.floats(lat_lo, lat_hi, allow_nan=False), st.floats(lng_lo, lng_hi, allow_nan=False)
    )
    lattice_point = st.builds(
        lambda lat, lng, k: (round(lat * 2.0**k) / 2.0**k, round(lng * 2.0**k) / 2.0**k),
        st.floats(lat_lo, lat_hi),
        st.floats(lng_lo, lng_hi),
        st.integers(7, 14),
    )
    tiny = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.0**-40, -(2.0**-40)])
    near_zero = st.tuples(st.one_of(tiny, st.floats(lat_lo, lat_hi)), tiny)
    points = st.lists(
        st.one_of(st.sampled_from(special), any_point, lattice_point, near_zero),
        min_size=1,
        max_size=60,
    )

    @settings(max_examples=120, deadline=None)
    @given(points)
    def check(batch: list[tuple[float, float]]) -> None:
        lats = np.array([p[0] for p in batch])
        lngs = np.array([p[1] for p in batch])
        # when
        found = locate_many(lats, lngs)
        # then
        assert found.tolist() == _brute_force_xy(lats, lngs).tolist()

    check()


@pytest.mark.django_db
@pytest.mark.parametrize(("seed", "west", "north"), GRID_PLACES)
def test_locate_many_agrees_with_brute_force_on_many_points(seed, west, north):
    # given
    data = jittered_grid(seed, west=west, north=north)
    services.grid_import(actor=None, geojson=data)
    rng = np.random.default_rng(seed)
    special = np.array(_special_points(data))
    lats = np.concatenate([special[:, 0], rng.uniform(north - 6 * STEP, north + STEP, 40_000)])
    lngs = np.concatenate([special[:, 1], rng.uniform(west - STEP, west + 6 * STEP, 40_000)])
    # when
    found = locate_many(lats, lngs)
    # then
    expected = _brute_force_xy(lats, lngs)
    assert found.tolist() == expected.tolist()
    cells = GridCell.objects.count()
    assert cells == 19
    assert set(expected.tolist()) == {-1, *GridCell.objects.values_list("pk", flat=True)}
    assert (expected[: len(special)] != -1).all()  # every vertex and edge point is on some cell
