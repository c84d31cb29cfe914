"""The public grid map: active grid cells as GeoJSON, without login (mounted at /public).

Thin like every endpoint: parse the filters, take a page of :func:`cell_list`, render each cell
through the schemas in ``schemas.py``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from civicgrid.accounts.api import ErrorOut

from .models import CellType, GridCell
from .schemas import (
    CellCollectionOut,
    CellFeatureOut,
    CellFiltersIn,
    CellPropertiesOut,
    MultiPolygonOut,
    PolygonOut,
)
from .selectors import cell_list

router = Router(tags=["public"], auth=None)


def cell_feature_out(cell: GridCell) -> CellFeatureOut:
    geometry = cell.geometry
    shape = MultiPolygonOut if geometry.get("type") == "MultiPolygon" else PolygonOut
    return CellFeatureOut(
        type="Feature",
        properties=CellPropertiesOut(
            code=cell.code, name=cell.name, name_en=cell.name_en, kind=CellType(cell.cell_type)
        ),
        geometry=shape.model_validate(geometry),
    )


@router.get(
    "/cells",
    auth=None,
    response={200: CellCollectionOut, 400: ErrorOut},
    summary="Grid cells as a GeoJSON FeatureCollection",
)
def public_cells(request: HttpRequest, filters: Query[CellFiltersIn]) -> CellCollectionOut:
    """Active grid cells ordered by code, optionally under one area, a page at a time. The
    answer is a GeoJSON FeatureCollection (RFC 7946) whose ``count``, ``page`` and
    ``page_size`` are foreign members; each feature's geometry is the stored polygon."""
    cells = cell_list(community_code=filters.community)
    start = (filters.page - 1) * filters.page_size
    rows = list(cells[start : start + filters.page_size])
    return CellCollectionOut(
        type="FeatureCollection",
        features=[cell_feature_out(c) for c in rows],
        count=cells.count(),
        page=filters.page,
        page_size=filters.page_size,
    )
