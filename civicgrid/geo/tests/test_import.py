"""Grid import, export, areas and grid members, through the services."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from civicgrid.core.models import AuditRecord
from civicgrid.geo import selectors, services
from civicgrid.geo.errors import GeoError
from civicgrid.geo.models import Area, GeoVersion, GridCell, GridMember
from civicgrid.geo.services import GapReport

from .factories import COMMUNITY, cell_feature, grid_3x3, import_grid_3x3, user, with_feature

pytestmark = pytest.mark.django_db

C = COMMUNITY


def square(west: float, south: float, size: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [west, south],
                [west + size, south],
                [west + size, south + size],
                [west, south + size],
                [west, south],
            ]
        ],
    }


def refused(geojson, **kwargs) -> GeoError:
    """Run an import that must fail; check nothing was written; return the error."""
    areas, cells, audits = (
        Area.objects.count(),
        GridCell.objects.count(),
        AuditRecord.objects.count(),
    )
    version = GeoVersion.objects.values_list("version", flat=True).first()
    with pytest.raises(GeoError) as info:
        services.grid_import(actor=None, geojson=geojson, **kwargs)
    assert Area.objects.count() == areas
    assert GridCell.objects.count() == cells
    assert AuditRecord.objects.count() == audits
    assert GeoVersion.objects.values_list("version", flat=True).first() == version
    return info.value


def problems(error: GeoError) -> list[tuple[int | None, str | None, str]]:
    return [(p["index"], p["code"], p["problem"]) for p in error.details["problems"]]


# --- happy path ---------------------------------------------------------------------------------


def test_import_creates_areas_and_cells_with_bounds_and_one_audit_row():
    # given
    actor = user("importer")
    # when
    report = services.grid_import(actor=actor, geojson=grid_3x3())
    # then
    assert report.areas_created == ["420106", "420106001", C]
    assert report.cells_created == [f"{C}{n:03d}" for n in range(1, 10)]
    assert report.cells_updated == []
    assert report.gaps == []
    assert report.version == 1
    cell = GridCell.objects.get(code=f"{C}005")
    assert cell.community.code == C
    assert cell.name == "Grid 5"
    assert (cell.min_lng, cell.max_lng) == (114.302, 114.304)
    assert (cell.min_lat, cell.max_lat) == (30.556, 30.558)
    assert cell.centroid_lng == pytest.approx(114.303)
    assert cell.centroid_lat == pytest.approx(30.557)
    assert Area.objects.get(code=C).parent == Area.objects.get(code="420106001")
    audit = AuditRecord.objects.get()
    assert audit.action == "geo.grid_import"
    assert audit.actor == actor
    assert audit.data["cells_created"] == 9


def test_import_accepts_a_json_string_and_a_multipolygon():
    # given
    data = grid_3x3()
    geometry = cell_feature(data, f"{C}001")["geometry"]
    data = with_feature(
        data, f"{C}001", geometry={"type": "MultiPolygon", "coordinates": [geometry["coordinates"]]}
    )
    # when
    report = services.grid_import(actor=None, geojson=json.dumps(data))
    # then
    assert report.created_count == 9
    assert GridCell.objects.get(code=f"{C}001").geometry["type"] == "MultiPolygon"


def test_reimport_updates_cells_by_code():
    # given
    import_grid_3x3()
    data = with_feature(grid_3x3(), f"{C}002", name="Market street", cell_type="market")
    # when
    report = services.grid_import(actor=None, geojson=data)
    # then
    assert report.cells_created == []
    assert report.updated_count == 9
    assert report.areas_updated == ["420106", "420106001", C]
    assert GridCell.objects.count() == 9
    cell = GridCell.objects.get(code=f"{C}002")
    assert (cell.name, cell.cell_type) == ("Market street", "market")
    assert AuditRecord.objects.filter(action="geo.grid_import").count() == 2
    assert GeoVersion.objects.get().version == 2


def test_cells_may_join_a_community_already_stored():
    # given
    import_grid_3x3()
    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": f"{C}001", "name": "Renamed"},
                "geometry": cell_feature(grid_3x3(), f"{C}001")["geometry"],
            }
        ],
    }
    # when
    report = services.grid_import(actor=None, geojson=data, community_code=C)
    # then
    assert report.cells_updated == [f"{C}001"]
    assert GridCell.objects.get(code=f"{C}001").name == "Renamed"
    audit = AuditRecord.objects.filter(action="geo.grid_import").order_by("id").reverse()[0]
    assert audit.target_id == str(Area.objects.get(code=C).pk)


def test_gaps_are_reported_not_refused():
    # given
    data = grid_3x3()
    data["features"] = [f for f in data["features"] if f["properties"]["code"] != f"{C}005"]
    # when
    report = services.grid_import(actor=None, geojson=data)
    # then
    assert report.created_count == 8
    assert report.gaps == [GapReport(community_code=C, gap_share=0.111111, gap_parts=1)]
    assert AuditRecord.objects.get().data["gaps"] == [
        {"community": C, "share": 0.111111, "parts": 1}
    ]


def test_export_round_trips_through_import():
    # given
    import_grid_3x3()
    exported = services.grid_export()
    # when
    report = services.grid_import(actor=None, geojson=json.loads(json.dumps(exported)))
    # then
    assert report.cells_created == []
    assert report.updated_count == 9
    assert services.grid_export() == exported
    assert [f["properties"]["code"] for f in exported["features"][:3]] == [
        "420106",
        "420106001",
        C,
    ]
    assert exported["features"][3]["properties"] == {
        "code": f"{C}001",
        "name": "Grid 1",
        "name_en": "Grid 1",
        "cell_type": "basic",
    }


def test_export_of_one_community_and_of_an_unknown_one():
    # given
    import_grid_3x3()
    # when
    part = services.grid_export(community_code=C)
    # then
    assert len(part["features"]) == 12
    with pytest.raises(GeoError) as info:
        services.grid_export(community_code="999999999999")
    assert info.value.code == "geo.unknown_area"
    assert info.value.http_status == 404


# --- malformed input ----------------------------------------------------------------------------


def test_not_json_is_refused():
    error = refused("{not json")
    assert error.code == "geo.bad_json"
    assert error.message.startswith("The file is not valid JSON")


@pytest.mark.parametrize(
    "geojson",
    [
        {"type": "Feature", "properties": {}, "geometry": None},
        [1, 2],
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": {"a": 1}},
    ],
)
def test_wrong_top_level_shape_is_refused(geojson):
    error = refused(geojson)
    assert error.code == "geo.bad_geojson"


def test_a_point_geometry_is_refused_naming_the_feature():
    # given
    data = with_feature(grid_3x3(), f"{C}004", geometry={"type": "Point", "coordinates": [1, 2]})
    # when
    error = refused(data)
    # then
    assert problems(error) == [(6, f"{C}004", "geo.bad_geojson")]
    assert error.details["problems"][0]["message"] == (
        "The geometry must be a Polygon or MultiPolygon, not Point."
    )
    assert error.message == (
        "The grid was not imported: 1 problem(s) found. The first: feature 6 (code "
        f"{C}004): The geometry must be a Polygon or MultiPolygon, not Point."
    )


def test_missing_code_is_refused():
    data = grid_3x3()
    del data["features"][3]["properties"]["code"]
    error = refused(data)
    assert problems(error) == [(3, None, "geo.bad_code")]


@pytest.mark.parametrize(
    "code", ["42010600100100", "4201060010010011", "42010600100100a", 420106001001001]
)
def test_bad_code_format_is_refused(code):
    data = with_feature(grid_3x3(), f"{C}001", code=code)
    error = refused(data)
    assert problems(error) == [(3, str(code), "geo.bad_code")]
    assert error.details["problems"][0]["message"] == (
        "The code must be a string of exactly 15 digits."
    )


def test_wrong_prefix_is_refused():
    data = with_feature(grid_3x3(), f"{C}009", code="420106001002009")
    error = refused(data)
    assert problems(error) == [(11, "420106001002009", "geo.bad_prefix")]
    assert "420106001002 name no community" in error.details["problems"][0]["message"]


def test_cells_outside_the_named_community_are_refused():
    import_grid_3x3()
    error = refused(grid_3x3(), community_code="420106001002")
    assert problems(error)[0] == (None, "420106001002", "geo.unknown_area")
    assert len(problems(error)) == 10  # the unknown community, then each of the nine cells
    assert problems(error)[1] == (3, f"{C}001", "geo.bad_prefix")


def test_self_intersecting_polygon_is_refused():
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                [114.300, 30.558],
                [114.302, 30.560],
                [114.302, 30.558],
                [114.300, 30.560],
                [114.300, 30.558],
            ]
        ],
    }
    error = refused(with_feature(grid_3x3(), f"{C}001", geometry=bowtie))
    assert problems(error) == [(3, f"{C}001", "geo.bad_polygon")]
    assert error.details["problems"][0]["message"].startswith(
        "The polygon is not valid: Self-intersection"
    )


def test_unclosed_ring_is_refused():
    geometry = square(114.300, 30.558, 0.002)
    geometry["coordinates"][0][-1] = [114.3001, 30.558]
    error = refused(with_feature(grid_3x3(), f"{C}001", geometry=geometry))
    assert problems(error) == [(3, f"{C}001", "geo.bad_polygon")]
    assert error.details["problems"][0]["message"] == (
        "polygon, ring 0 is not closed: its first and last positions differ."
    )


def test_ring_with_too_few_positions_is_refused():
    geometry = {"type": "Polygon", "coordinates": [[[114.3, 30.5], [114.31, 30.5], [114.3, 30.5]]]}
    error = refused(with_feature(grid_3x3(), f"{C}001", geometry=geometry))
    assert problems(error) == [(3, f"{C}001", "geo.bad_polygon")]


@pytest.mark.parametrize(
    ("position", "problem"),
    [
        ([181.0, 30.558], "geo.out_of_range"),
        ([114.3, -90.5], "geo.out_of_range"),
        (["114.3", 30.558], "geo.not_a_number"),
        ([True, 30.558], "geo.not_a_number"),
        ([114.3], "geo.bad_polygon"),
    ],
)
def test_bad_coordinates_are_refused(position, problem):
    geometry = square(114.300, 30.558, 0.002)
    geometry["coordinates"][0][2] = position
    error = refused(with_feature(grid_3x3(), f"{C}001", geometry=geometry))
    assert problems(error) == [(3, f"{C}001", problem)]


def test_unknown_cell_type_and_long_name_are_refused():
    data = with_feature(grid_3x3(), f"{C}001", cell_type="castle")
    data = with_feature(data, f"{C}002", name="x" * 101)
    error = refused(data)
    assert problems(error) == [(3, f"{C}001", "geo.bad_cell_type"), (4, f"{C}002", "geo.bad_name")]


def test_duplicate_codes_are_refused():
    data = with_feature(grid_3x3(), f"{C}002", code=f"{C}001")
    error = refused(data)
    assert problems(error) == [(4, f"{C}001", "geo.duplicate_code")]
    assert error.details["problems"][0]["message"] == (
        f"The code {C}001 already appears in feature 3."
    )


def test_every_problem_is_listed_at_once():
    data = grid_3x3()
    del data["features"][3]["properties"]["code"]
    data = with_feature(data, f"{C}009", code="420106001002009")
    data = with_feature(data, f"{C}005", geometry={"type": "LineString", "coordinates": []})
    error = refused(data)
    assert problems(error) == [
        (3, None, "geo.bad_code"),
        (7, f"{C}005", "geo.bad_geojson"),
        (11, "420106001002009", "geo.bad_prefix"),
    ]


# --- overlaps and parents -----------------------------------------------------------------------


def test_overlapping_cells_are_refused():
    # given: cell 005 shifted half a cell east, over cell 006
    data = with_feature(grid_3x3(), f"{C}005", geometry=square(114.303, 30.556, 0.002))
    # when
    error = refused(data)
    # then
    assert problems(error) == [(7, f"{C}005", "geo.overlap")]
    assert error.details["problems"][0]["message"] == (
        f"It overlaps cell {C}006 (50.00% of the smaller cell)."
    )


def test_overlap_with_a_stored_cell_is_refused():
    # given
    import_grid_3x3()
    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": f"{C}010", "name": "Extra"},
                "geometry": square(114.3005, 30.5585, 0.001),
            }
        ],
    }
    # when
    error = refused(data)
    # then
    assert problems(error) == [(0, f"{C}010", "geo.overlap")]
    assert f"overlaps cell {C}001 (100.00%" in error.details["problems"][0]["message"]


def test_cells_sharing_only_a_border_do_not_overlap():
    report = import_grid_3x3()
    assert report.created_count == 9


def test_cell_outside_its_community_is_refused():
    # given: cell 009 moved one cell further east, out of the community square
    data = with_feature(grid_3x3(), f"{C}009", geometry=square(114.306, 30.554, 0.002))
    # when
    error = refused(data)
    # then
    assert problems(error) == [(11, f"{C}009", "geo.outside_parent")]
    assert error.details["problems"][0]["message"] == (
        f"100.00% of the cell lies outside its community {C}."
    )


def test_area_with_unknown_parent_is_refused():
    data = grid_3x3()
    data["features"] = data["features"][2:]  # no district, no street
    error = refused(data)
    assert problems(error) == [(0, C, "geo.unknown_parent")]


# --- areas --------------------------------------------------------------------------------------


def test_area_create_builds_the_tree():
    # given
    district = services.area_create(actor=None, code="420106", level="district", name="Wuchang")
    # when
    street = services.area_create(actor=None, code="420106001", level="street", name="Street")
    community = services.area_create(
        actor=None,
        code=C,
        level="community",
        name="Community",
        geometry=square(114.3, 30.554, 0.006),
    )
    # then
    assert street.parent == district
    assert community.parent == street
    assert AuditRecord.objects.filter(action="geo.area_create").count() == 3
    tree = selectors.area_tree()
    assert [n.area.code for n in tree] == ["420106"]
    assert [n.area.code for n in tree[0].children[0].children] == [C]


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"code": "420106001", "level": "street"}, "geo.unknown_parent", "parent"),
        ({"code": "42010", "level": "district"}, "geo.bad_code", "code"),
        ({"code": "420106", "level": "province"}, "geo.bad_level", "level"),
        ({"code": "420106", "level": "district", "name": ""}, "geo.bad_name", "name"),
        (
            {"code": "420106", "level": "district", "geometry": {"type": "Point"}},
            "geo.bad_geojson",
            "geometry",
        ),
    ],
)
def test_area_create_refuses_bad_input(kwargs, code, field):
    kwargs = {"name": "Somewhere", **kwargs}
    with pytest.raises(GeoError) as info:
        services.area_create(actor=None, **kwargs)
    assert (info.value.code, info.value.field) == (code, field)
    assert Area.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_area_create_refuses_a_duplicate_code():
    services.area_create(actor=None, code="420106", level="district", name="Wuchang")
    with pytest.raises(GeoError) as info:
        services.area_create(actor=None, code="420106", level="district", name="Again")
    assert info.value.code == "geo.area_exists"
    assert info.value.http_status == 409
    assert Area.objects.count() == 1
    assert AuditRecord.objects.count() == 1


# --- cells and members --------------------------------------------------------------------------


def test_cell_list_and_geojson_selectors():
    import_grid_3x3()
    assert [c.code for c in selectors.cell_list(community_code=C)][:2] == [f"{C}001", f"{C}002"]
    assert selectors.cell_list(community_code="999999").count() == 0
    assert selectors.area_tree()[0].children[0].children[0].cell_count == 9
    collection = selectors.cells_geojson(community_code=C)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 9


def test_cell_update_deactivates_a_cell():
    import_grid_3x3()
    cell = GridCell.objects.get(code=f"{C}001")
    services.cell_update(actor=None, cell=cell, name="Closed", is_active=False)
    assert selectors.cell_list().count() == 8
    assert AuditRecord.objects.filter(action="geo.cell_update").count() == 1


def test_grid_member_add_end_and_selectors():
    # given
    import_grid_3x3()
    cell = GridCell.objects.get(code=f"{C}001")
    worker = user()
    # when
    member = services.grid_member_add(
        actor=None, cell=cell, user=worker, role="full_time", valid_from=dt.date(2026, 1, 1)
    )
    # then
    assert list(selectors.members_for_cell(cell, on=dt.date(2026, 3, 1))) == [member]
    assert list(selectors.members_for_cell(cell, on=dt.date(2025, 12, 31))) == []
    assert list(selectors.cells_for_user(worker, on=dt.date(2026, 3, 1))) == [cell]
    # when
    services.grid_member_end(actor=None, member=member, valid_to=dt.date(2026, 6, 30))
    # then
    assert list(selectors.cells_for_user(worker, on=dt.date(2026, 6, 30))) == [cell]
    assert list(selectors.cells_for_user(worker, on=dt.date(2026, 7, 1))) == []
    actions = list(AuditRecord.objects.values_list("action", flat=True))
    assert actions[-2:] == ["geo.grid_member_add", "geo.grid_member_end"]


def test_grid_member_refusals_change_nothing():
    # given
    import_grid_3x3()
    cell = GridCell.objects.get(code=f"{C}001")
    worker = user()
    member = services.grid_member_add(
        actor=None, cell=cell, user=worker, role="leader", valid_from=dt.date(2026, 1, 1)
    )
    audits = AuditRecord.objects.count()
    cases = [
        (
            lambda: services.grid_member_add(
                actor=None, cell=cell, user=worker, role="leader", valid_from=dt.date(2026, 5, 1)
            ),
            "geo.member_overlap",
        ),
        (
            lambda: services.grid_member_add(
                actor=None, cell=cell, user=worker, role="boss", valid_from=dt.date(2026, 5, 1)
            ),
            "geo.bad_role",
        ),
        (
            lambda: services.grid_member_add(
                actor=None,
                cell=cell,
                user=worker,
                role="part_time",
                valid_from=dt.date(2026, 5, 1),
                valid_to=dt.date(2026, 4, 1),
            ),
            "geo.bad_dates",
        ),
        (
            lambda: services.grid_member_end(
                actor=None, member=member, valid_to=dt.date(2025, 1, 1)
            ),
            "geo.bad_dates",
        ),
    ]
    for call, code in cases:
        # when
        with pytest.raises(GeoError) as info:
            call()
        # then
        assert info.value.code == code
    assert GridMember.objects.count() == 1
    assert GridMember.objects.get().valid_to is None
    assert AuditRecord.objects.count() == audits
