"""The offline base map: streets, paths, buildings, greens, water and landmarks of the area.

Maps draw it under the grid cells when no tile server is configured, so that an intranet with
no internet still shows a resident their street. It comes from our own data: a GeoJSON
FeatureCollection that a surveying office or an OpenStreetMap extract provides, imported with
``manage.py import_basemap FILE`` (:func:`basemap_import`), or the demo's own drawing.

Each feature's ``properties`` carry ``kind`` (``street``, ``path``, ``building``, ``green``,
``water``, ``landmark``) and optional ``name`` and ``name_en``. Streets and paths are lines,
buildings, greens and water polygons, landmarks points. An import replaces the whole base map,
all or nothing: any problem refuses the file, listing every problem with its feature index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.core import readcache
from civicgrid.core.services import audit_record

from .errors import GeoError, excerpt, unstorable
from .geometry import GeometryError, check_line, check_point, check_polygon, to_shape
from .models import BaseMapFeature, BaseMapKind
from .services import ImportProblems, load_feature_collection

MAX_FEATURES = 50_000
NAME_MAX = 100
GEOMETRY_FOR_KIND = {
    BaseMapKind.STREET: "line",
    BaseMapKind.PATH: "line",
    BaseMapKind.BUILDING: "polygon",
    BaseMapKind.GREEN: "polygon",
    BaseMapKind.WATER: "polygon",
    BaseMapKind.LANDMARK: "point",
}
# The read cache's namespace for the base map (changed only by an import).
BASEMAP_CACHE = "geo.basemap"


@dataclass(frozen=True)
class BasemapReport:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _parse(index: int, raw: Any, problems: ImportProblems) -> BaseMapFeature | None:
    def problem(code: GeoError.Code, message: Any) -> None:
        problems.add(index, None, code, message)

    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problem(GeoError.Code.BAD_GEOJSON, _("It is not a GeoJSON Feature."))
        return None
    props = raw.get("properties")
    if not isinstance(props, dict):
        problem(GeoError.Code.BAD_GEOJSON, _("It has no properties object."))
        return None
    kind = props.get("kind")
    if kind not in BaseMapKind.values:
        problem(
            GeoError.Code.BAD_BASEMAP_KIND,
            _("kind %(kind)s is not one of: %(choices)s.")
            % {"kind": excerpt(kind), "choices": ", ".join(BaseMapKind.values)},
        )
        return None
    names = {}
    for key in ("name", "name_en"):
        value = props.get(key) or ""
        if not isinstance(value, str) or len(value) > NAME_MAX or unstorable(value):
            problem(
                GeoError.Code.BAD_NAME,
                _("%(key)s must be text of at most %(max)d characters.")
                % {"key": key, "max": NAME_MAX},
            )
            return None
        names[key] = value.strip()
    expected = GEOMETRY_FOR_KIND[BaseMapKind(kind)]
    try:
        if expected == "line":
            geometry = check_line(raw.get("geometry"))
        elif expected == "polygon":
            geometry, _shape = check_polygon(raw.get("geometry"))
        else:
            geometry = check_point(raw.get("geometry"))
    except GeometryError as exc:
        problem(exc.problem.code, exc.problem.message)
        return None
    min_lng, min_lat, max_lng, max_lat = to_shape(geometry).bounds
    return BaseMapFeature(
        kind=kind,
        name=names["name"],
        name_en=names["name_en"],
        geometry=geometry,
        min_lat=min_lat,
        max_lat=max_lat,
        min_lng=min_lng,
        max_lng=max_lng,
    )


def basemap_import(*, actor: Any, geojson: dict[str, Any] | str | bytes) -> BasemapReport:
    """Replace the base map with the features of ``geojson``, all or nothing.

    Raises one :class:`GeoError` listing every problem (``details["problems"]``: the feature
    ``index``, a ``problem`` code and a translated ``message``) and writes nothing; otherwise
    writes the features, one audit row, and returns the count of each kind.
    """
    features = load_feature_collection(geojson)
    if len(features) > MAX_FEATURES:
        raise GeoError(
            GeoError.Code.TOO_LARGE,
            _("The file has %(count)d features; a base map has at most %(max)d.")
            % {"count": len(features), "max": MAX_FEATURES},
        )
    problems = ImportProblems(
        headline=gettext_lazy(
            "The base map was not imported: %(count)d problem(s) found. The first: %(first)s"
        )
    )
    rows = [row for i, raw in enumerate(features) if (row := _parse(i, raw, problems))]
    problems.raise_if_any()
    counts = {kind: 0 for kind in BaseMapKind.values}
    for row in rows:
        counts[row.kind] += 1
    with transaction.atomic():
        BaseMapFeature.objects.all().delete()
        BaseMapFeature.objects.bulk_create(rows, batch_size=1000)
        audit_record(actor=actor, action="geo.basemap_import", data={"counts": counts})
        readcache.bump(BASEMAP_CACHE)
    return BasemapReport(counts=counts)
