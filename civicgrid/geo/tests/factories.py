"""Builders for geo tests: a small rectangular grid imported through the service."""

from __future__ import annotations

import copy
from typing import Any

from civicgrid.accounts.models import User
from civicgrid.geo.sample import rectangular_grid
from civicgrid.geo.services import ImportReport, grid_import

COMMUNITY = "420106001001"
WEST, NORTH, STEP = 114.30, 30.56, 0.002


def grid_3x3(**kwargs: Any) -> dict[str, Any]:
    """District, street, community (a 0.006° square) and its 3×3 cells 001..009."""
    return rectangular_grid(
        community_code=COMMUNITY, rows=3, cols=3, west=WEST, north=NORTH, cell_deg=STEP, **kwargs
    )


def import_grid_3x3(actor: Any = None) -> ImportReport:
    return grid_import(actor=actor, geojson=grid_3x3())


def cell_feature(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in data["features"] if f["properties"].get("code") == code)


def with_feature(data: dict[str, Any], target: str, /, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``data``; the feature coded ``target`` gets ``changes`` (properties or
    geometry)."""
    data = copy.deepcopy(data)
    feature = cell_feature(data, target)
    for key, value in changes.items():
        if key == "geometry":
            feature["geometry"] = value
        else:
            feature["properties"][key] = value
    return data


def user(username: str = "worker") -> User:
    return User.objects.create_user(username=username, password="x")
