"""Writers of areas, grid cells and grid members; grid import and export as GeoJSON.

Every write to areas or cells increments the :class:`GeoVersion` row, so point lookup caches in
every process notice the change (see :mod:`civicgrid.geo.locate`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from civicgrid.core.errors import ErrorKind
from civicgrid.core.services import audit_record

from . import locate as locate_module
from . import selectors
from .errors import GeoError, excerpt, unstorable
from .geometry import AREA_TOLERANCE_SHARE, GeometryError, check_polygon, to_shape
from .models import (
    CODE_LENGTH,
    GRID_CODE_LENGTH,
    Area,
    AreaLevel,
    CellType,
    GeoVersion,
    GridCell,
    GridMember,
    GridRole,
)

NAME_MAX_LENGTH = 100
UNSTORABLE_NAME = _("A name cannot hold a NUL character or a lone surrogate (\\ud800…).")
PARENT_LEVEL = {AreaLevel.STREET: AreaLevel.DISTRICT, AreaLevel.COMMUNITY: AreaLevel.STREET}


def _bump_version() -> int:
    """Increment the geography version (creating the row on first use); drop the local index."""
    updated = GeoVersion.objects.filter(pk=1).update(
        version=models.F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        GeoVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    locate_module.invalidate_local()
    transaction.on_commit(locate_module.invalidate_local)
    return GeoVersion.objects.values_list("version", flat=True).get(pk=1)


def _is_code(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and value.isascii() and value.isdigit()


def _outside_share(inner: BaseGeometry, outer: BaseGeometry) -> float:
    return float(inner.difference(outer).area / inner.area) if inner.area else 0.0


# --- areas ------------------------------------------------------------------------------------


@transaction.atomic
def area_create(
    *,
    actor: Any,
    code: str,
    level: str,
    name: str,
    name_en: str = "",
    parent: Area | None = None,
    geometry: dict[str, Any] | None = None,
) -> Area:
    """Create a district, street or community.

    The code must have the level's length (6/9/12 digits) and extend the parent's code; when no
    parent is given it is looked up by that prefix. A geometry, when given, must be a valid
    polygon inside the parent's (when the parent has one). Writes the area, bumps the geography
    version and one audit row.
    """
    if level not in AreaLevel.values:
        raise GeoError(
            GeoError.Code.BAD_LEVEL,
            _("The level must be district, street or community."),
            field="level",
        )
    level = AreaLevel(level)
    length = CODE_LENGTH[level]
    if not _is_code(code, length):
        raise GeoError(
            GeoError.Code.BAD_CODE,
            _("A %(level)s code has exactly %(length)d digits.")
            % {"level": level.label, "length": length},
            field="code",
        )
    _check_name(name, "name", required=True)
    _check_name(name_en, "name_en", required=False)
    if Area.objects.filter(code=code).exists():
        raise GeoError(
            GeoError.Code.AREA_EXISTS,
            _("An area with code %(code)s already exists.") % {"code": code},
            field="code",
            kind=ErrorKind.CONFLICT,
        )
    if level == AreaLevel.DISTRICT:
        if parent is not None:
            raise GeoError(
                GeoError.Code.BAD_PREFIX, _("A district has no parent area."), field="parent"
            )
    else:
        parent_code = code[: length - 3]
        if parent is None:
            parent = Area.objects.filter(code=parent_code, level=PARENT_LEVEL[level]).first()
            if parent is None:
                raise GeoError(
                    GeoError.Code.UNKNOWN_PARENT,
                    _("There is no %(parent_level)s with code %(parent_code)s to hold %(code)s.")
                    % {
                        "parent_level": PARENT_LEVEL[level].label,
                        "parent_code": parent_code,
                        "code": code,
                    },
                    field="parent",
                )
        elif parent.code != parent_code or parent.level != PARENT_LEVEL[level]:
            raise GeoError(
                GeoError.Code.BAD_PREFIX,
                _("The code %(code)s does not extend the parent's code %(parent_code)s.")
                % {"code": code, "parent_code": parent.code},
                field="code",
            )
    clean_geometry = None
    if geometry is not None:
        try:
            clean_geometry, shape = check_polygon(geometry)
        except GeometryError as exc:
            raise GeoError(exc.problem.code, exc.problem.message, field="geometry") from None
        if parent is not None and parent.geometry:
            share = _outside_share(shape, to_shape(parent.geometry))
            if share > AREA_TOLERANCE_SHARE:
                raise GeoError(
                    GeoError.Code.OUTSIDE_PARENT,
                    _("%(share).2f%% of the area lies outside its parent %(parent)s.")
                    % {"share": share * 100, "parent": parent.code},
                    field="geometry",
                )
    area = Area(
        code=str(code),
        level=level,
        name=name,
        name_en=name_en,
        parent=parent,
        geometry=clean_geometry,
    )
    area.full_clean()
    area.save()
    _bump_version()
    audit_record(
        actor=actor,
        action="geo.area_create",
        target=area,
        data={"code": code, "level": str(level), "name": name},
    )
    return area


@transaction.atomic
def area_update(*, actor: Any, area: Area, name: str, name_en: str = "") -> Area:
    """Rename an area. Codes, levels and boundaries change only through a grid import."""
    _check_name(name, "name", required=True)
    _check_name(name_en, "name_en", required=False)
    area.name = name
    area.name_en = name_en
    area.full_clean()
    area.save(update_fields=["name", "name_en"])
    _bump_version()
    audit_record(
        actor=actor, action="geo.area_update", target=area, data={"name": name, "name_en": name_en}
    )
    return area


def _check_name(value: Any, field_name: str, *, required: bool) -> None:
    if not isinstance(value, str) or (required and not value.strip()):
        raise GeoError(GeoError.Code.BAD_NAME, _("A name is required."), field=field_name)
    if len(value) > NAME_MAX_LENGTH:
        raise GeoError(
            GeoError.Code.BAD_NAME,
            _("A name has at most %(max)d characters.") % {"max": NAME_MAX_LENGTH},
            field=field_name,
        )
    if unstorable(value):
        raise GeoError(GeoError.Code.BAD_NAME, UNSTORABLE_NAME, field=field_name)


@transaction.atomic
def cell_update(
    *,
    actor: Any,
    cell: GridCell,
    name: str,
    name_en: str = "",
    cell_type: str = CellType.BASIC,
    is_active: bool = True,
) -> GridCell:
    """Change a cell's names, type or active flag. Its code and polygon change only by import.

    An inactive cell is left out of point lookup; the geography version is bumped so every
    process's lookup notices.
    """
    _check_name(name, "name", required=False)
    _check_name(name_en, "name_en", required=False)
    if cell_type not in CellType.values:
        raise GeoError(
            GeoError.Code.BAD_CELL_TYPE,
            _("Unknown cell type %(type)s.") % {"type": excerpt(cell_type)},
            field="cell_type",
        )
    cell.name, cell.name_en, cell.cell_type, cell.is_active = name, name_en, cell_type, is_active
    cell.full_clean()
    cell.save(update_fields=["name", "name_en", "cell_type", "is_active", "updated_at"])
    _bump_version()
    audit_record(
        actor=actor,
        action="geo.cell_update",
        target=cell,
        data={"name": name, "cell_type": cell_type, "is_active": is_active},
    )
    return cell


# --- grid import ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapReport:
    """The part of a community's polygon covered by no cell (a warning, not an error)."""

    community_code: str
    gap_share: float  # 0..1 of the community's area
    gap_parts: int  # number of separate uncovered pieces


@dataclass(frozen=True)
class ImportReport:
    areas_created: list[str]
    areas_updated: list[str]
    cells_created: list[str]
    cells_updated: list[str]
    gaps: list[GapReport]
    version: int

    @property
    def created_count(self) -> int:
        return len(self.cells_created)

    @property
    def updated_count(self) -> int:
        return len(self.cells_updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "areas_created": self.areas_created,
            "areas_updated": self.areas_updated,
            "cells_created": len(self.cells_created),
            "cells_updated": len(self.cells_updated),
            "gaps": [
                {"community": g.community_code, "share": g.gap_share, "parts": g.gap_parts}
                for g in self.gaps
            ],
            "version": self.version,
        }


@dataclass
class _Feature:
    index: int
    code: str
    is_area: bool
    level: AreaLevel | None
    name: str
    name_en: str
    cell_type: str
    geometry: dict[str, Any] | None
    shape: BaseGeometry | None


GRID_REFUSED = _("The grid was not imported: %(count)d problem(s) found. The first: %(first)s")


@dataclass
class ImportProblems:
    """The problems an import found, each with its feature ``index`` (None: the file), the
    feature's ``code`` when readable, a machine ``problem`` code and a translated message.
    ``headline`` words the refusal (``%(count)d`` problems, ``%(first)s`` the first)."""

    headline: Any = GRID_REFUSED
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, index: int | None, code: str | None, problem: GeoError.Code, message: Any
    ) -> None:
        self.items.append(
            {"index": index, "code": code, "problem": problem.value, "message": str(message)}
        )

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        raise GeoError(
            first["problem"],
            self.headline % {"count": len(self.items), "first": _describe(first)},
            details={"problems": self.items},
        )


def _describe(problem: dict[str, Any]) -> str:
    if problem["index"] is None:
        return problem["message"]
    if problem["code"]:
        return str(
            _("feature %(index)d (code %(code)s): %(message)s")
            % {"index": problem["index"], "code": problem["code"], "message": problem["message"]}
        )
    return str(
        _("feature %(index)d: %(message)s")
        % {"index": problem["index"], "message": problem["message"]}
    )


def load_feature_collection(geojson: dict[str, Any] | str | bytes) -> list[Any]:
    if isinstance(geojson, str | bytes):
        try:
            geojson = json.loads(geojson)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested too deeply
            raise GeoError(
                GeoError.Code.BAD_JSON,
                _("The file is not valid JSON: %(reason)s.") % {"reason": str(exc)[:200]},
            ) from None
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection":
        found = geojson.get("type") if isinstance(geojson, dict) else type(geojson).__name__
        raise GeoError(
            GeoError.Code.BAD_GEOJSON,
            _("The file must be a GeoJSON FeatureCollection, not %(found)s.")
            % {"found": excerpt(found)},
        )
    features = geojson.get("features")
    if not isinstance(features, list):
        raise GeoError(
            GeoError.Code.BAD_GEOJSON,
            _("The FeatureCollection must have a list of features."),
        )
    return features


def _parse_feature(index: int, raw: Any, problems: ImportProblems) -> _Feature | None:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problems.add(index, None, GeoError.Code.BAD_GEOJSON, _("It is not a GeoJSON Feature."))
        return None
    props = raw.get("properties")
    if not isinstance(props, dict):
        problems.add(index, None, GeoError.Code.BAD_GEOJSON, _("It has no properties object."))
        return None
    code = props.get("code")
    label = excerpt(code) if isinstance(code, str) else None
    level_value = props.get("level")
    is_area = level_value not in (None, "", "cell")
    level: AreaLevel | None = None
    ok = True
    if is_area:
        if level_value not in AreaLevel.values:
            problems.add(
                index,
                label,
                GeoError.Code.BAD_LEVEL,
                _("The level %(level)s is not district, street, community or cell.")
                % {"level": excerpt(level_value)},
            )
            return None
        level = AreaLevel(level_value)
        length = CODE_LENGTH[level]
    else:
        length = GRID_CODE_LENGTH
    if code is None:
        problems.add(index, None, GeoError.Code.BAD_CODE, _("The property code is missing."))
        ok = False
    elif not _is_code(code, length):
        problems.add(
            index,
            excerpt(code),
            GeoError.Code.BAD_CODE,
            _("The code must be a string of exactly %(length)d digits.") % {"length": length},
        )
        ok = False
    name = props.get("name", "")
    name_en = props.get("name_en", "")
    for key, value in (("name", name), ("name_en", name_en)):
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH:
            problems.add(
                index,
                label,
                GeoError.Code.BAD_NAME,
                _("The property %(key)s must be text of at most %(max)d characters.")
                % {"key": key, "max": NAME_MAX_LENGTH},
            )
            ok = False
        elif unstorable(value):
            problems.add(
                index,
                label,
                GeoError.Code.BAD_NAME,
                _("The property %(key)s holds a NUL character or a lone surrogate (\\ud800…).")
                % {"key": key},
            )
            ok = False
    if is_area and not (isinstance(name, str) and name.strip()):
        problems.add(index, label, GeoError.Code.BAD_NAME, _("An area needs a name."))
        ok = False
    cell_type = props.get("cell_type") or CellType.BASIC
    if not is_area and cell_type not in CellType.values:
        problems.add(
            index,
            label,
            GeoError.Code.BAD_CELL_TYPE,
            _("The cell type %(type)s is not one of %(types)s.")
            % {"type": excerpt(cell_type), "types": ", ".join(CellType.values)},
        )
        ok = False
    raw_geometry = raw.get("geometry")
    geometry = shape = None
    if raw_geometry is None and is_area:
        pass  # an area may come without a boundary
    else:
        try:
            geometry, shape = check_polygon(raw_geometry)
        except GeometryError as exc:
            problems.add(index, label, exc.problem.code, exc.problem.message)
            ok = False
    if not ok:
        return None
    return _Feature(
        index=index,
        code=str(code),
        is_area=is_area,
        level=level,
        name=name or "",
        name_en=name_en or "",
        cell_type=str(cell_type),
        geometry=geometry,
        shape=shape,
    )


@transaction.atomic
def grid_import(
    *, actor: Any, geojson: dict[str, Any] | str | bytes, community_code: str | None = None
) -> ImportReport:
    """Import areas and grid cells from a GeoJSON FeatureCollection, all or nothing.

    Cell features carry ``code`` (15 digits), ``name``, optional ``name_en`` and ``cell_type``;
    area features also carry ``level`` (district/street/community) and may have a null geometry.
    Checks JSON shape, codes, prefixes (a cell's first 12 digits name a community in the
    database or the file; an area's code extends its parent's), polygon validity, duplicate
    codes, overlaps between cells (STRtree; both file cells and active cells already stored),
    and that cells and areas lie inside their parent's polygon when it has one. With
    ``community_code``, every cell must belong to that community.

    Any problem raises one GeoError listing them all (``details["problems"]``) and writes
    nothing. Otherwise upserts areas and cells by code, bumps the geography version, writes
    one audit row, and returns a report including the uncovered share of each community.

    Whatever the input (it is fuzzed: tests/test_fuzz_parsers.py), the only exception is a
    GeoError whose message names the feature or the file: a malformed ``community_code`` is
    refused before the file is read, names holding a character no database stores (NUL, a
    lone surrogate) are problems of their feature, and values are quoted through
    :func:`excerpt` (a 5000-digit number cannot be printed).
    """
    if community_code and not _is_code(community_code, CODE_LENGTH[AreaLevel.COMMUNITY]):
        raise GeoError(
            GeoError.Code.BAD_CODE,
            _("The community code must be 12 digits, not %(code)s.")
            % {"code": excerpt(community_code)},
            field="community",
        )
    features = load_feature_collection(geojson)
    problems = ImportProblems()
    parsed: list[_Feature] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(features):
        feature = _parse_feature(index, raw, problems)
        if feature is None:
            continue
        if feature.code in first_index:
            problems.add(
                index,
                feature.code,
                GeoError.Code.DUPLICATE_CODE,
                _("The code %(code)s already appears in feature %(first)d.")
                % {"code": feature.code, "first": first_index[feature.code]},
            )
            continue
        first_index[feature.code] = index
        parsed.append(feature)

    file_areas = {f.code: f for f in parsed if f.is_area}
    file_cells = [f for f in parsed if not f.is_area]
    prefixes = {f.code[: len(f.code) - 3] for f in parsed if len(f.code) > 6}
    if community_code:
        prefixes.add(community_code)
    db_areas = {a.code: a for a in Area.objects.filter(code__in=prefixes | set(file_areas))}

    if community_code and not (
        (community_code in file_areas and file_areas[community_code].level == AreaLevel.COMMUNITY)
        or (community_code in db_areas and db_areas[community_code].level == AreaLevel.COMMUNITY)
    ):
        problems.add(
            None,
            community_code,
            GeoError.Code.UNKNOWN_AREA,
            _("There is no community with code %(code)s.") % {"code": community_code},
        )

    def area_shape(code: str) -> BaseGeometry | None:
        if code in file_areas:
            return file_areas[code].shape
        area = db_areas.get(code)
        return to_shape(area.geometry) if area is not None and area.geometry else None

    def known(code: str) -> bool:
        return code in file_areas or code in db_areas

    for area in file_areas.values():
        if area.level == AreaLevel.DISTRICT:
            continue
        parent_code = area.code[:-3]
        if not known(parent_code):
            problems.add(
                area.index,
                area.code,
                GeoError.Code.UNKNOWN_PARENT,
                _("There is no parent area %(parent)s in the file or the database.")
                % {"parent": parent_code},
            )
            continue
        parent_shape = area_shape(parent_code)
        if area.shape is not None and parent_shape is not None:
            share = _outside_share(area.shape, parent_shape)
            if share > AREA_TOLERANCE_SHARE:
                problems.add(
                    area.index,
                    area.code,
                    GeoError.Code.OUTSIDE_PARENT,
                    _("%(share).2f%% of the area lies outside its parent %(parent)s.")
                    % {"share": share * 100, "parent": parent_code},
                )

    community_shapes: dict[str, BaseGeometry | None] = {}
    for cell in file_cells:
        prefix = cell.code[:12]
        if community_code and prefix != community_code:
            problems.add(
                cell.index,
                cell.code,
                GeoError.Code.BAD_PREFIX,
                _("The code does not start with the community code %(community)s.")
                % {"community": community_code},
            )
            continue
        if not known(prefix):
            problems.add(
                cell.index,
                cell.code,
                GeoError.Code.BAD_PREFIX,
                _("Its first 12 digits %(prefix)s name no community in the file or the database.")
                % {"prefix": prefix},
            )
            continue
        if prefix not in community_shapes:
            community_shapes[prefix] = area_shape(prefix)
        community_shape = community_shapes[prefix]
        if community_shape is not None and cell.shape is not None:
            share = _outside_share(cell.shape, community_shape)
            if share > AREA_TOLERANCE_SHARE:
                problems.add(
                    cell.index,
                    cell.code,
                    GeoError.Code.OUTSIDE_PARENT,
                    _("%(share).2f%% of the cell lies outside its community %(community)s.")
                    % {"share": share * 100, "community": prefix},
                )

    others = _stored_neighbours(file_cells)
    _check_overlaps(file_cells, others, problems)
    problems.raise_if_any()

    # --- all checks passed: write -----------------------------------------------------------
    areas_created, areas_updated = _upsert_areas(list(file_areas.values()), db_areas)
    cells_created, cells_updated = _upsert_cells(file_cells)
    version = _bump_version()
    touched = sorted(
        {c.code[:12] for c in file_cells} | ({community_code} if community_code else set())
    )
    gaps = _gaps(touched)
    report = ImportReport(
        areas_created=areas_created,
        areas_updated=areas_updated,
        cells_created=cells_created,
        cells_updated=cells_updated,
        gaps=gaps,
        version=version,
    )
    target = Area.objects.filter(code=community_code).first() if community_code else None
    audit_record(actor=actor, action="geo.grid_import", target=target, data=report.as_dict())
    return report


def _stored_neighbours(file_cells: list[_Feature]) -> list[tuple[str, BaseGeometry]]:
    """Active stored cells not replaced by the file whose bounding box meets the file's."""
    if not file_cells:
        return []
    shapes = [c.shape for c in file_cells]
    min_lng, min_lat, max_lng, max_lat = shapely.total_bounds(np.array(shapes, dtype=object))
    rows = (
        GridCell.objects.filter(
            is_active=True,
            min_lng__lte=max_lng,
            max_lng__gte=min_lng,
            min_lat__lte=max_lat,
            max_lat__gte=min_lat,
        )
        .exclude(code__in=[c.code for c in file_cells])
        .values_list("code", "geometry")
    )
    return [(code, to_shape(geometry)) for code, geometry in rows]


def _check_overlaps(
    file_cells: list[_Feature], others: list[tuple[str, BaseGeometry]], problems: ImportProblems
) -> None:
    """Report every pair (file cell, file or stored cell) whose intersection has real area."""
    if not file_cells:
        return
    shapes = np.array([c.shape for c in file_cells] + [s for _, s in others], dtype=object)
    codes = [c.code for c in file_cells] + [code for code, _ in others]
    tree = STRtree(shapes)
    left, right = tree.query(shapes[: len(file_cells)], predicate="intersects")
    keep = (left < right) | (right >= len(file_cells))
    left, right = left[keep], right[keep]
    if not len(left):
        return
    overlap = shapely.area(shapely.intersection(shapes[left], shapes[right]))
    smaller = np.minimum(shapely.area(shapes[left]), shapely.area(shapes[right]))
    bad = overlap > AREA_TOLERANCE_SHARE * smaller
    for i, j, area, small in zip(left[bad], right[bad], overlap[bad], smaller[bad], strict=True):
        cell = file_cells[int(i)]
        problems.add(
            cell.index,
            cell.code,
            GeoError.Code.OVERLAP,
            _("It overlaps cell %(other)s (%(share).2f%% of the smaller cell).")
            % {"other": codes[int(j)], "share": float(area / small * 100)},
        )


def _upsert_areas(
    features: list[_Feature], db_areas: dict[str, Area]
) -> tuple[list[str], list[str]]:
    created: list[str] = []
    updated: list[str] = []
    known = dict(db_areas)
    for feature in sorted(features, key=lambda f: f.code):  # parents (shorter codes) first
        assert feature.level is not None
        area = known.get(feature.code)
        parent = known.get(feature.code[:-3]) if feature.level != AreaLevel.DISTRICT else None
        if area is None:
            area = Area(code=feature.code, level=feature.level)
            created.append(feature.code)
        else:
            updated.append(feature.code)
        area.name = feature.name
        area.name_en = feature.name_en
        area.parent = parent
        if feature.geometry is not None:
            area.geometry = feature.geometry
        area.full_clean(validate_unique=False)
        area.save()
        known[feature.code] = area
    return created, updated


def _upsert_cells(features: list[_Feature]) -> tuple[list[str], list[str]]:
    if not features:
        return [], []
    communities = {a.code: a for a in Area.objects.filter(code__in={f.code[:12] for f in features})}
    existing = {c.code: c for c in GridCell.objects.filter(code__in=[f.code for f in features])}
    now = timezone.now()
    to_create: list[GridCell] = []
    to_update: list[GridCell] = []
    for feature in features:
        assert feature.shape is not None
        cell = existing.get(feature.code)
        if cell is None:
            cell = GridCell(code=feature.code)
            to_create.append(cell)
        else:
            to_update.append(cell)
        min_lng, min_lat, max_lng, max_lat = feature.shape.bounds
        centroid = feature.shape.centroid
        cell.community = communities[feature.code[:12]]
        cell.name = feature.name
        cell.name_en = feature.name_en
        cell.cell_type = feature.cell_type
        cell.geometry = feature.geometry
        cell.min_lng, cell.min_lat, cell.max_lng, cell.max_lat = min_lng, min_lat, max_lng, max_lat
        cell.centroid_lng, cell.centroid_lat = centroid.x, centroid.y
        cell.is_active = True
        cell.updated_at = now
        cell.full_clean(exclude=["community"], validate_unique=False, validate_constraints=False)
    GridCell.objects.bulk_create(to_create, batch_size=500)
    GridCell.objects.bulk_update(
        to_update,
        [
            "community",
            "name",
            "name_en",
            "cell_type",
            "geometry",
            "min_lng",
            "min_lat",
            "max_lng",
            "max_lat",
            "centroid_lng",
            "centroid_lat",
            "is_active",
            "updated_at",
        ],
        batch_size=500,
    )
    return [c.code for c in to_create], [c.code for c in to_update]


def _gaps(community_codes: list[str]) -> list[GapReport]:
    """Uncovered share of each community that has a polygon (after the import's writes)."""
    reports: list[GapReport] = []
    communities = Area.objects.filter(code__in=community_codes, level=AreaLevel.COMMUNITY)
    for community in communities:
        if not community.geometry:
            continue
        boundary = to_shape(community.geometry)
        cells = [
            to_shape(g)
            for g in GridCell.objects.filter(community=community, is_active=True).values_list(
                "geometry", flat=True
            )
        ]
        covered = shapely.union_all(np.array(cells, dtype=object)) if cells else None
        gap = boundary.difference(covered) if covered is not None else boundary
        share = float(gap.area / boundary.area) if boundary.area else 0.0
        if share > AREA_TOLERANCE_SHARE:
            parts = len(getattr(gap, "geoms", [gap]))
            reports.append(GapReport(community.code, round(share, 6), parts))
    return reports


# --- grid export ------------------------------------------------------------------------------


def grid_export(*, community_code: str | None = None) -> dict[str, Any]:
    """The grid as a GeoJSON FeatureCollection that :func:`grid_import` takes back unchanged.

    Holds the areas on the path to each exported community (district, street, community, with
    their boundaries when known), then the active cells ordered by code. ``community_code`` may be
    any area code prefix (district, street or community) to export part of the grid.
    """
    if community_code is not None and not Area.objects.filter(code=community_code).exists():
        raise GeoError(
            GeoError.Code.UNKNOWN_AREA,
            _("There is no area with code %(code)s.") % {"code": community_code},
            field="community",
            kind=ErrorKind.NOT_FOUND,
        )
    cells = selectors.cell_list(community_code=community_code)
    area_codes: set[str] = set()
    if community_code is not None:
        area_codes.update(community_code[:n] for n in (6, 9, 12) if n <= len(community_code))
        area_codes.update(
            Area.objects.filter(code__startswith=community_code).values_list("code", flat=True)
        )
    else:
        area_codes.update(Area.objects.values_list("code", flat=True))
    for code in cells.values_list("code", flat=True):
        area_codes.update((code[:6], code[:9], code[:12]))
    areas = Area.objects.filter(code__in=area_codes).order_by("code")
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {
                "code": a.code,
                "level": a.level,
                "name": a.name,
                "name_en": a.name_en,
            },
            "geometry": a.geometry,
        }
        for a in areas
    ]
    features.extend(selectors.cells_geojson(community_code=community_code)["features"])
    return {"type": "FeatureCollection", "features": features}


# --- grid members -----------------------------------------------------------------------------


def member_overlaps(
    *, cell: GridCell, user: Any, role: str, valid_from: dt.date, valid_to: dt.date | None
) -> bool:
    """True when the person already serves the cell in the role during part of the period."""
    overlapping = GridMember.objects.filter(cell=cell, user=user, role=role).filter(
        models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=valid_from)
    )
    if valid_to is not None:
        overlapping = overlapping.filter(valid_from__lte=valid_to)
    return overlapping.exists()


@transaction.atomic
def grid_member_add(
    *,
    actor: Any,
    cell: GridCell,
    user: Any,
    role: str,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
) -> GridMember:
    """Appoint a person to a cell in a role for a period (open-ended when ``valid_to`` is None).

    Refuses a period that overlaps another membership of the same person in the same cell and
    role. Writes the membership and one audit row.
    """
    if role not in GridRole.values:
        raise GeoError(
            GeoError.Code.BAD_ROLE,
            _("The role %(role)s is not a grid role.") % {"role": excerpt(role)},
            field="role",
        )
    if valid_to is not None and valid_to < valid_from:
        raise GeoError(
            GeoError.Code.BAD_DATES,
            _("The end date cannot be before the start date."),
            field="valid_to",
        )
    if member_overlaps(cell=cell, user=user, role=role, valid_from=valid_from, valid_to=valid_to):
        raise GeoError(
            GeoError.Code.MEMBER_OVERLAP,
            _("This person already serves this cell in this role during that period."),
            field="valid_from",
            kind=ErrorKind.CONFLICT,
        )
    member = GridMember(cell=cell, user=user, role=role, valid_from=valid_from, valid_to=valid_to)
    member.full_clean()
    member.save()
    audit_record(
        actor=actor,
        action="geo.grid_member_add",
        target=member,
        data={
            "cell": cell.code,
            "user_id": user.pk,
            "role": role,
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to else None,
        },
    )
    return member


@transaction.atomic
def grid_member_end(*, actor: Any, member: GridMember, valid_to: dt.date) -> GridMember:
    """End an open membership on ``valid_to`` (the last day served). Writes one audit row."""
    member = GridMember.objects.select_for_update().get(pk=member.pk)
    if member.valid_to is not None:
        raise GeoError(
            GeoError.Code.ALREADY_ENDED,
            _("This membership already ended on %(day)s.") % {"day": member.valid_to.isoformat()},
            kind=ErrorKind.CONFLICT,
        )
    if valid_to < member.valid_from:
        raise GeoError(
            GeoError.Code.BAD_DATES,
            _("The end date cannot be before the start date %(day)s.")
            % {"day": member.valid_from.isoformat()},
            field="valid_to",
        )
    member.valid_to = valid_to
    member.full_clean()
    member.save(update_fields=["valid_to"])
    audit_record(
        actor=actor,
        action="geo.grid_member_end",
        target=member,
        data={"valid_to": valid_to.isoformat()},
    )
    return member
