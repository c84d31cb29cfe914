"""Reads of areas, grid cells and grid members."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Area, BaseMapFeature, GridCell, GridMember


def cell_list(*, community_code: str | None = None) -> QuerySet[GridCell]:
    """Active cells ordered by code, optionally under an area code prefix (6, 9 or 12 digits)."""
    cells = GridCell.objects.filter(is_active=True).select_related("community").order_by("code")
    if community_code:
        cells = cells.filter(code__startswith=community_code)
    return cells


@dataclass
class AreaNode:
    area: Area
    cell_count: int
    children: list[AreaNode] = field(default_factory=list)


def area_tree() -> list[AreaNode]:
    """Every area as a tree (districts at the roots), with each community's active cell count.

    One query, whatever the size of the tree.
    """
    areas = Area.objects.annotate(
        active_cells=Count("cells", filter=Q(cells__is_active=True))
    ).order_by("code")
    nodes: dict[int, AreaNode] = {}
    roots: list[AreaNode] = []
    for area in areas:  # ordered by code, so parents come before their children
        node = AreaNode(area=area, cell_count=area.active_cells)
        nodes[area.pk] = node
        parent = nodes.get(area.parent_id) if area.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def cell_feature(cell: GridCell) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "code": cell.code,
            "name": cell.name,
            "name_en": cell.name_en,
            "cell_type": cell.cell_type,
        },
        "geometry": cell.geometry,
    }


def cells_geojson(*, community_code: str | None = None) -> dict[str, Any]:
    """Active cells as a GeoJSON FeatureCollection (for maps and export), ordered by code."""
    cells = cell_list(community_code=community_code)
    return {"type": "FeatureCollection", "features": [cell_feature(c) for c in cells]}


def _active_on(on: dt.date) -> Q:
    return Q(valid_from__lte=on) & (Q(valid_to__isnull=True) | Q(valid_to__gte=on))


def members_for_cell(cell: GridCell, *, on: dt.date | None = None) -> QuerySet[GridMember]:
    """Memberships of a cell active on ``on`` (today, local time, by default)."""
    day = on or timezone.localdate()
    return (
        GridMember.objects.filter(_active_on(day), cell=cell)
        .select_related("user", "cell")
        .order_by("role", "valid_from", "id")
    )


def cells_for_user(user: Any, *, on: dt.date | None = None) -> QuerySet[GridCell]:
    """Active cells a person serves on ``on`` (today by default), ordered by code."""
    day = on or timezone.localdate()
    served = GridMember.objects.filter(_active_on(day), user=user).values("cell_id")
    return (
        GridCell.objects.filter(pk__in=served, is_active=True)
        .select_related("community")
        .order_by("code")
    )


def cell_by_code(code: str) -> GridCell | None:
    """The active cell with this 15-digit code (with its community), or ``None``: unknown,
    inactive or malformed codes all give ``None``."""
    text = (code or "").strip()
    if len(text) != 15 or not text.isdigit():
        return None
    return GridCell.objects.select_related("community").filter(code=text, is_active=True).first()


def basemap_geojson() -> dict[str, Any]:
    """The offline base map as a GeoJSON FeatureCollection, drawn in this order: greens and
    water first, then buildings, paths, streets and landmarks on top (see geo/basemap.py)."""
    order = {"green": 0, "water": 1, "building": 2, "path": 3, "street": 4, "landmark": 5}
    rows = sorted(
        BaseMapFeature.objects.values_list("id", "kind", "name", "name_en", "geometry"),
        key=lambda row: (order.get(row[1], 9), row[0]),
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kind": kind, "name": name, "name_en": name_en},
                "geometry": geometry,
            }
            for _pk, kind, name, name_en, geometry in rows
        ],
    }
