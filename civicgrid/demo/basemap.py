"""The demo street's offline base map: roads, lanes, residential blocks, parks, a lake and the
landmarks a resident names (community offices, schools, markets, metro stations, a clinic).

Drawn from the demo grid's own coordinates (:mod:`civicgrid.demo.generator`), so every road
runs along cell borders the way real grid cells follow streets, and blocks stand inside the
cells. Deterministic: the same drawing every load. Imported through the same service as a
surveyed base map (:func:`civicgrid.geo.basemap.basemap_import`).
"""

from __future__ import annotations

from typing import Any

# The grid's geometry is the generator's (it imports this module only inside the step that
# draws the map).
from .generator import (
    CELL_LAT,
    CELL_LNG,
    COMMUNITIES,
    GRID_COLS,
    GRID_ROWS,
    NORTH,
    SPECIAL_CELLS,
    WEST,
)

SOUTH = NORTH - GRID_ROWS * CELL_LAT
EAST = WEST + GRID_COLS * len(COMMUNITIES) * CELL_LNG
# Roads along the community borders (west to east) and along row borders (north to south).
MAIN_ROADS_NS = (
    ("望京西路", "Wangjing West Road"),
    ("望花路", "Wanghua Road"),
    ("南湖路", "Nanhu Road"),
    ("利泽东路", "Lize East Road"),
)
MAIN_ROADS_EW = {
    0: ("广顺北大街", "Guangshun North Street"),
    2: ("南湖中街", "Nanhu Middle Street"),
    GRID_ROWS: ("阜通东大街", "Futong East Street"),
}
METRO = (
    ("望京西站", "Wangjing West Station"),
    ("南湖站", "Nanhu Station"),
    ("利泽站", "Lize Station"),
    ("阜通站", "Futong Station"),
)
# Blocks per basic cell: columns × rows, and their size as a share of the cell.
BLOCK_COLS, BLOCK_ROWS = 3, 3
BLOCK_W, BLOCK_H = 0.22, 0.16


def _point(lng: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lng, 6), round(lat, 6)]}


def _line(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in points]}


def _box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def _feature(kind: str, geometry: dict[str, Any], name: str = "", name_en: str = "") -> dict:
    return {
        "type": "Feature",
        "properties": {"kind": kind, "name": name, "name_en": name_en},
        "geometry": geometry,
    }


def _cell_box(community: int, seq: int) -> tuple[float, float, float, float]:
    row, col = divmod(seq - 1, GRID_COLS)
    west = WEST + (community * GRID_COLS + col) * CELL_LNG
    north = NORTH - row * CELL_LAT
    return west, north - CELL_LAT, west + CELL_LNG, north


def _roads() -> list[dict[str, Any]]:
    features = []
    for k, (name, name_en) in enumerate(MAIN_ROADS_NS):
        x = WEST + k * GRID_COLS * CELL_LNG
        features.append(_feature("street", _line((x, NORTH), (x, SOUTH)), name, name_en))
    for row, (name, name_en) in MAIN_ROADS_EW.items():
        y = NORTH - row * CELL_LAT
        features.append(_feature("street", _line((WEST, y), (EAST, y)), name, name_en))
    for c, (_code, _name, _name_en, short) in enumerate(COMMUNITIES):
        short_en = COMMUNITIES[c][2].replace(" Community", "")
        for col in range(1, GRID_COLS):  # lanes between the cells of a community
            x = WEST + (c * GRID_COLS + col) * CELL_LNG
            features.append(
                _feature(
                    "street",
                    _line((x, NORTH), (x, SOUTH)),
                    f"{short}{col}巷",
                    f"{short_en} Lane {col}",
                )
            )
        for row in (1, 3):  # the minor east-west streets of the community
            y = NORTH - row * CELL_LAT
            west = WEST + c * GRID_COLS * CELL_LNG
            east = west + GRID_COLS * CELL_LNG
            features.append(
                _feature(
                    "street",
                    _line((west, y), (east, y)),
                    f"{short}{'北' if row == 1 else '南'}街",
                    f"{short_en} {'North' if row == 1 else 'South'} Street",
                )
            )
    return features


def _cell_features(c: int, seq: int, numbers: list[int]) -> list[dict[str, Any]]:
    west, south, east, north = _cell_box(c, seq)
    w, h = east - west, north - south
    short = COMMUNITIES[c][3]
    short_en = COMMUNITIES[c][2].replace(" Community", "")
    kind = SPECIAL_CELLS.get(seq, "basic")
    features: list[dict[str, Any]] = []
    if kind == "park":
        features.append(
            _feature(
                "green",
                _box(west + 0.06 * w, south + 0.06 * h, east - 0.06 * w, north - 0.06 * h),
                f"{short}公园",
                f"{short_en} Park",
            )
        )
        features.append(
            _feature(
                "water",
                _box(west + 0.35 * w, south + 0.3 * h, west + 0.7 * w, south + 0.6 * h),
                f"{short}湖",
                f"{short_en} Pond",
            )
        )
        features.append(
            _feature(
                "path",
                _line((west + 0.06 * w, south + 0.5 * h), (east - 0.06 * w, south + 0.75 * h)),
            )
        )
        return features
    if kind in ("school", "market"):
        names = {
            "school": (f"{short}小学", f"{short_en} Primary School"),
            "market": (f"{short}农贸市场", f"{short_en} Market"),
        }[kind]
        features.append(
            _feature(
                "building",
                _box(west + 0.2 * w, south + 0.25 * h, east - 0.2 * w, north - 0.25 * h),
                *names,
            )
        )
        features.append(_feature("landmark", _point(west + 0.5 * w, south + 0.5 * h), *names))
        if kind == "school":
            features.append(
                _feature(
                    "green",
                    _box(west + 0.2 * w, south + 0.06 * h, east - 0.2 * w, south + 0.2 * h),
                    f"{short}小学操场",
                    f"{short_en} School Sports Ground",
                )
            )
        return features
    for row in range(BLOCK_ROWS):
        for col in range(BLOCK_COLS):
            numbers[c] += 1
            bw = west + w * (0.08 + col * (0.92 / BLOCK_COLS))
            bn = north - h * (0.1 + row * (0.9 / BLOCK_ROWS))
            features.append(
                _feature(
                    "building",
                    _box(bw, bn - BLOCK_H * h, bw + BLOCK_W * w, bn),
                    f"{short}{numbers[c]}号楼",
                    f"{short_en} Block {numbers[c]}",
                )
            )
    if seq == 3:
        features.append(
            _feature(
                "landmark",
                _point(west + 0.5 * w, south + 0.05 * h),
                f"{COMMUNITIES[c][1]}居委会",
                f"{short_en} Residents' Committee",
            )
        )
    if c == 1 and seq == 10:
        features.append(
            _feature(
                "landmark",
                _point(west + 0.5 * w, south + 0.05 * h),
                "南湖社区卫生服务站",
                "Nanhu Community Clinic",
            )
        )
    return features


def demo_basemap() -> dict[str, Any]:
    """The demo street's base map as a GeoJSON FeatureCollection."""
    features = _roads()
    numbers = [0] * len(COMMUNITIES)
    for c in range(len(COMMUNITIES)):
        for seq in range(1, GRID_ROWS * GRID_COLS + 1):
            features.extend(_cell_features(c, seq, numbers))
    for k, (name, name_en) in enumerate(METRO):
        x = WEST + k * GRID_COLS * CELL_LNG
        features.append(_feature("landmark", _point(x, NORTH - 2 * CELL_LAT), name, name_en))
    return {"type": "FeatureCollection", "features": features}
