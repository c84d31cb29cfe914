"""The offline base map: import (all or nothing, every problem named), the command, and the
GeoJSON the maps read."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from civicgrid.core.models import AuditRecord
from civicgrid.geo.basemap import basemap_import
from civicgrid.geo.errors import GeoError
from civicgrid.geo.models import BaseMapFeature

pytestmark = pytest.mark.django_db


def feature(kind: str, geometry: dict[str, Any], name: str = "", name_en: str = "") -> dict:
    return {
        "type": "Feature",
        "properties": {"kind": kind, "name": name, "name_en": name_en},
        "geometry": geometry,
    }


STREET = feature(
    "street",
    {"type": "LineString", "coordinates": [[116.40, 39.90], [116.41, 39.90]]},
    "望花路",
    "Wanghua Road",
)
BUILDING = feature(
    "building",
    {
        "type": "Polygon",
        "coordinates": [
            [[116.401, 39.901], [116.402, 39.901], [116.402, 39.902], [116.401, 39.901]]
        ],
    },
    "3号楼",
    "Block 3",
)
SCHOOL = feature("landmark", {"type": "Point", "coordinates": [116.405, 39.905]}, "小学", "School")


def collection(*features: Any) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def test_an_import_replaces_the_base_map_and_is_audited():
    # given an earlier base map
    basemap_import(actor=None, geojson=collection(SCHOOL))

    # when
    report = basemap_import(actor=None, geojson=collection(STREET, BUILDING, SCHOOL))

    # then
    assert report.counts["street"] == 1 and report.counts["building"] == 1
    assert report.total == 3
    assert BaseMapFeature.objects.count() == 3
    building = BaseMapFeature.objects.get(kind="building")
    assert (building.min_lng, building.max_lat) == (116.401, 39.902)
    assert AuditRecord.objects.filter(action="geo.basemap_import").count() == 2


@pytest.mark.parametrize(
    ("bad", "problem", "words"),
    [
        (
            feature("castle", STREET["geometry"]),
            "geo.bad_basemap_kind",
            "kind castle is not one of",
        ),
        (feature("street", BUILDING["geometry"]), "geo.bad_geojson", "LineString"),
        (feature("building", STREET["geometry"]), "geo.bad_geojson", "Polygon"),
        (
            feature("landmark", {"type": "Point", "coordinates": [200, 39]}),
            "geo.out_of_range",
            "longitude",
        ),
        (
            feature("street", {"type": "LineString", "coordinates": [[116.4, 39.9]]}),
            "geo.bad_geojson",
            "at least 2",
        ),
        (feature("street", STREET["geometry"], "x" * 101), "geo.bad_name", "at most 100"),
        (feature("street", STREET["geometry"], "a\x00b"), "geo.bad_name", "name"),
        ({"type": "Feature", "geometry": STREET["geometry"]}, "geo.bad_geojson", "properties"),
        ("not a feature", "geo.bad_geojson", "not a GeoJSON Feature"),
    ],
)
def test_a_bad_feature_refuses_the_whole_file_naming_it(bad, problem, words):
    # given a base map in place
    basemap_import(actor=None, geojson=collection(SCHOOL))
    before = list(BaseMapFeature.objects.values_list("kind", "name"))

    # when the file has one good feature and one bad one (index 1)
    with pytest.raises(GeoError) as caught:
        basemap_import(actor=None, geojson=collection(STREET, bad))

    # then nothing changed and the problem names the feature
    problems = caught.value.details["problems"]
    assert [(p["index"], p["problem"]) for p in problems] == [(1, problem)]
    assert words in problems[0]["message"]
    assert "feature 1" in caught.value.message
    assert list(BaseMapFeature.objects.values_list("kind", "name")) == before


def test_every_bad_feature_is_listed_at_once():
    with pytest.raises(GeoError) as caught:
        basemap_import(
            actor=None,
            geojson=collection(feature("x", {}), STREET, feature("street", {}), "nope"),
        )

    assert [p["index"] for p in caught.value.details["problems"]] == [0, 2, 3]
    assert "3 problem(s)" in caught.value.message


@pytest.mark.parametrize(
    ("text", "code"),
    [(b"{not json", "geo.bad_json"), (b'{"type": "Feature"}', "geo.bad_geojson")],
)
def test_a_file_that_is_not_a_feature_collection_is_refused(text, code):
    with pytest.raises(GeoError) as caught:
        basemap_import(actor=None, geojson=text)
    assert caught.value.code == code


def test_the_command_imports_a_file_and_names_every_problem(tmp_path):
    good = tmp_path / "basemap.geojson"
    good.write_text(json.dumps(collection(STREET, BUILDING)), encoding="utf-8")
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(collection(STREET, feature("castle", {}))), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_basemap", str(good), stdout=out)
    with pytest.raises(CommandError) as caught:
        call_command("import_basemap", str(bad), stderr=err)
    with pytest.raises(CommandError) as missing:
        call_command("import_basemap", str(tmp_path / "none.geojson"))

    assert out.getvalue() == f"Imported {good}: 2 features (1 street, 1 building).\n"
    assert "feature 1: [geo.bad_basemap_kind]" in err.getvalue()
    assert str(bad) in str(caught.value)
    assert "does not exist" in str(missing.value)
    assert BaseMapFeature.objects.count() == 2


def test_the_maps_read_the_base_map_as_geojson_greens_first(
    settings, django_capture_on_commit_callbacks
):
    # given (with the read cache on, as in production)
    settings.CIVICGRID_PUBLIC_CACHE_SECONDS = 60
    green = feature("green", BUILDING["geometry"], "公园", "Park")
    basemap_import(actor=None, geojson=collection(STREET, green))

    # when
    first = Client().get("/map/basemap.geojson")
    with django_capture_on_commit_callbacks(execute=True):  # the import commits
        basemap_import(actor=None, geojson=collection(SCHOOL))
    second = Client().get("/map/basemap.geojson")

    # then
    assert first.status_code == 200
    assert first["Content-Type"] == "application/geo+json"
    kinds = [f["properties"]["kind"] for f in first.json()["features"]]
    assert kinds == ["green", "street"]
    assert first.json()["features"][1]["properties"]["name_en"] == "Wanghua Road"
    assert [f["properties"]["kind"] for f in second.json()["features"]] == ["landmark"]
