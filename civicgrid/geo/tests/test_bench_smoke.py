"""The geo locate benchmark runs, counts and agrees with the raw query on a small input."""

from __future__ import annotations

import pytest

from bench.geo_locate import run
from civicgrid.geo.models import GridCell

from .factories import import_grid_3x3

pytestmark = pytest.mark.django_db


def test_bench_run_reports_rates_and_counts():
    # given
    import_grid_3x3()
    cells = list(GridCell.objects.order_by("code"))
    # when
    result = run(1000, cells, repeat=2)
    # then
    assert result["n_points"] == 1000
    assert result["cells"] == 9
    assert result["located"] == 1000  # every point is inside the grid's bounding box
    assert result["raw_located"] == 1000
    assert result["mismatches"] == 0
    assert result["repeat"] == 2
    assert result["ratio_basis"] in ("wall", "cpu")
    assert result["ratio"] == result[f"ratio_{result['ratio_basis']}"]
    for clock in ("wall", "cpu"):
        for key in (
            "locate_many_pts_per_s",
            "raw_strtree_query_pts_per_s",
            "raw_points_and_query_pts_per_s",
        ):
            assert result[clock][key] > 0
    basis = result[result["ratio_basis"]]
    assert result["locate_many_pts_per_s"] == basis["locate_many_pts_per_s"]
    assert result["raw_strtree_query_pts_per_s"] == basis["raw_strtree_query_pts_per_s"]
    assert result["ratio_wall"] > 0
    assert result["ratio_cpu"] > 0
    assert result["index"]["bins"] > result["index"]["mixed_bins"] > 0
