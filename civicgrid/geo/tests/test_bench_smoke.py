"""The geo locate benchmark runs and counts correctly on a small input."""

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
    result = run(1000, cells, repeat=1)
    # then
    assert result["n_points"] == 1000
    assert result["cells"] == 9
    assert result["located"] == 1000  # every point is inside the grid's bounding box
    assert result["raw_located"] == 1000
    for key in ("locate_many_pts_per_s", "raw_strtree_pts_per_s", "raw_query_only_pts_per_s"):
        assert result[key] > 0
    assert result["ratio"] > 0
