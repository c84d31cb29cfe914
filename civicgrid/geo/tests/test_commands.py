"""The import_grid and export_grid management commands."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicgrid.core.models import AuditRecord
from civicgrid.geo.models import GridCell

from .factories import COMMUNITY, grid_3x3, import_grid_3x3, user, with_feature

pytestmark = pytest.mark.django_db


def test_import_grid_reads_a_file(tmp_path):
    # given
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(grid_3x3()), encoding="utf-8")
    user("importer")
    out = io.StringIO()
    # when
    call_command("import_grid", str(path), "--actor", "importer", stdout=out)
    # then
    assert GridCell.objects.count() == 9
    assert out.getvalue() == (
        f"Imported {path}: 9 cells created, 0 updated, 3 areas created, 0 updated.\n"
    )
    assert AuditRecord.objects.get().actor_label == "importer"


def test_import_grid_reports_gaps(tmp_path):
    data = grid_3x3()
    data["features"] = [f for f in data["features"] if f["properties"]["code"] != f"{COMMUNITY}005"]
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = io.StringIO()
    call_command("import_grid", str(path), stdout=out)
    assert out.getvalue().splitlines()[1] == (
        f"Gap: 11.11% of community {COMMUNITY} is covered by no cell (1 piece(s))."
    )


def test_import_grid_missing_file_fails_clearly(tmp_path):
    with pytest.raises(CommandError) as info:
        call_command("import_grid", str(tmp_path / "nope.geojson"))
    assert (
        str(info.value) == f"The file {tmp_path / 'nope.geojson'} does not exist or is not a file."
    )
    assert AuditRecord.objects.count() == 0


def test_import_grid_bad_json_fails_clearly(tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text("{oops", encoding="utf-8")
    with pytest.raises(CommandError) as info:
        call_command("import_grid", str(path))
    assert str(info.value).startswith(f"{path}: The file is not valid JSON")
    assert GridCell.objects.count() == 0


def test_import_grid_lists_every_problem_and_saves_nothing(tmp_path):
    # given
    data = with_feature(grid_3x3(), f"{COMMUNITY}001", code="123")
    data = with_feature(data, f"{COMMUNITY}002", cell_type="castle")
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    err = io.StringIO()
    # when
    with pytest.raises(CommandError) as info:
        call_command("import_grid", str(path), stderr=err)
    # then
    assert str(info.value).startswith(f"{path}: The grid was not imported: 2 problem(s) found.")
    assert err.getvalue().splitlines() == [
        "feature 3 (code 123): [geo.bad_code] The code must be a string of exactly 15 digits.",
        f"feature 4 (code {COMMUNITY}002): [geo.bad_cell_type] The cell type castle is not one "
        "of basic, school, market, park, hospital, industrial, other.",
    ]
    assert GridCell.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_import_grid_unknown_actor_fails(tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(grid_3x3()), encoding="utf-8")
    with pytest.raises(CommandError) as info:
        call_command("import_grid", str(path), "--actor", "ghost")
    assert str(info.value) == "There is no user named ghost."
    assert GridCell.objects.count() == 0


def test_export_grid_writes_a_file_that_imports_back(tmp_path):
    # given
    import_grid_3x3()
    path = tmp_path / "out.geojson"
    out = io.StringIO()
    # when
    call_command("export_grid", "--community", COMMUNITY, "-o", str(path), stdout=out)
    # then
    assert out.getvalue() == f"Wrote 9 cells to {path}.\n"
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert len(exported["features"]) == 12
    call_command("import_grid", str(path), stdout=io.StringIO())
    assert GridCell.objects.count() == 9


def test_export_grid_to_stdout_and_errors():
    import_grid_3x3()
    out = io.StringIO()
    call_command("export_grid", stdout=out)
    assert json.loads(out.getvalue())["type"] == "FeatureCollection"
    with pytest.raises(CommandError) as info:
        call_command("export_grid", "--community", "999999999999")
    assert str(info.value) == "There is no area with code 999999999999."
    with pytest.raises(CommandError) as info:
        call_command("export_grid", "-o", "/nonexistent-dir/out.geojson")
    assert str(info.value) == "The directory /nonexistent-dir does not exist."
