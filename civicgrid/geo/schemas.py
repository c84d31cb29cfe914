"""Input and output schemas of the public grid map (GeoJSON, RFC 7946, WGS84 ``[lng, lat]``)."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field

from .models import CellType

MAX_CELL_PAGE_SIZE = 500
AREA_CODE_RE = r"^[0-9]{6}(?:[0-9]{3}){0,2}$"

# [lng, lat] or [lng, lat, altitude].
Position = Annotated[list[float], Field(min_length=2, max_length=3)]
Ring = list[Position]


class CellFiltersIn(Schema):
    community: str | None = Field(
        None,
        pattern=AREA_CODE_RE,
        description=(
            "A community code (12 digits): its cells only. A street (9) or district (6) code "
            "takes all the cells under it."
        ),
    )
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(MAX_CELL_PAGE_SIZE, ge=1, le=MAX_CELL_PAGE_SIZE)


class CellPropertiesOut(Schema):
    code: str = Field(description="The 15-digit unit grid code.")
    name: str
    name_en: str
    kind: CellType = Field(description="Basic grid or a special-purpose one (school, market…).")


class PolygonOut(Schema):
    type: Literal["Polygon"]
    coordinates: list[Ring]


class MultiPolygonOut(Schema):
    type: Literal["MultiPolygon"]
    coordinates: list[list[Ring]]


class CellFeatureOut(Schema):
    type: Literal["Feature"]
    properties: CellPropertiesOut
    geometry: PolygonOut | MultiPolygonOut = Field(discriminator="type")


class CellCollectionOut(Schema):
    type: Literal["FeatureCollection"]
    features: list[CellFeatureOut]
    count: int = Field(description="Cells matching the filter over all pages.")
    page: int
    page_size: int
