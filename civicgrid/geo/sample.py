"""A synthetic rectangular grid as GeoJSON, for tests, benchmarks and the demo community.

Cells are numbered west→east, north→south as the grid-code standard says, and neighbouring cells
share exactly the same border coordinates, so the grid has no gaps and no overlaps.
"""

from __future__ import annotations

from typing import Any


def _rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [east, south], [east, north], [west, north], [west, south]]
        ],
    }


def rectangular_grid(
    *,
    community_code: str = "420106001001",
    rows: int = 3,
    cols: int = 3,
    west: float = 114.30,
    north: float = 30.56,
    cell_deg: float = 0.002,
    with_areas: bool = True,
) -> dict[str, Any]:
    """A FeatureCollection: district, street and community (the community's polygon is the
    union of the cells) followed by ``rows`` × ``cols`` cells coded ``community_code + 001...``.
    """
    xs = [round(west + i * cell_deg, 9) for i in range(cols + 1)]
    ys = [round(north - j * cell_deg, 9) for j in range(rows + 1)]
    features: list[dict[str, Any]] = []
    if with_areas:
        features += [
            {
                "type": "Feature",
                "properties": {
                    "code": community_code[:6],
                    "level": "district",
                    "name": "Test district",
                },
                "geometry": None,
            },
            {
                "type": "Feature",
                "properties": {
                    "code": community_code[:9],
                    "level": "street",
                    "name": "Test street",
                },
                "geometry": None,
            },
            {
                "type": "Feature",
                "properties": {
                    "code": community_code,
                    "level": "community",
                    "name": "Test community",
                    "name_en": "Test community",
                },
                "geometry": _rectangle(xs[0], ys[-1], xs[-1], ys[0]),
            },
        ]
    number = 0
    for j in range(rows):
        for i in range(cols):
            number += 1
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": f"{community_code}{number:03d}",
                        "name": f"Grid {number}",
                        "name_en": f"Grid {number}",
                        "cell_type": "basic",
                    },
                    "geometry": _rectangle(xs[i], ys[j + 1], xs[i + 1], ys[j]),
                }
            )
    return {"type": "FeatureCollection", "features": features}
