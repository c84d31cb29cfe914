"""Benchmark: ``locate_many`` against a raw shapely STRtree query on the same points.

    .venv/bin/python -m bench.geo_locate --points 1000000

Random points are drawn inside the grid's bounding box. Both sides do the same work from the
same coordinate arrays: the raw side is ``shapely.points`` + ``tree.query(points,
predicate="intersects")`` over the same (prepared) polygons + releasing the million point
objects; ``locate_many`` adds input validation, the cache version check and resolving border ties
to one cell id per point. Their speed ratio (from CPU time, best of several interleaved runs, so
that a busy machine's neighbours do not decide it) shows what that costs (target ≥ 0.8). The query
alone (points made beforehand, not freed) is reported as ``raw_query_only_pts_per_s``.
Builds a 60-cell synthetic grid when the database has none. Writes bench/results/geo_locate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "geo_locate.json"


def run(n_points: int, cells: Iterable[Any], *, seed: int = 0, repeat: int = 7) -> dict[str, Any]:
    """Time ``locate_many`` and the raw STRtree query on ``n_points`` random points.

    Rates and ``ratio`` use this process's CPU time (both sides are single-threaded), best of
    ``repeat`` interleaved runs, because on a shared machine wall-clock time mostly measures the
    neighbours; wall-clock bests are reported beside them (``*_wall_s``, ``wall_ratio``).
    ``cells`` are the GridCell rows the lookup index holds.
    """
    import shapely
    from shapely import STRtree

    from civicgrid.geo.locate import locate_many

    polygons = np.array([shapely.geometry.shape(c.geometry) for c in cells], dtype=object)
    if not len(polygons):
        raise ValueError("run() needs at least one cell")
    min_lng, min_lat, max_lng, max_lat = shapely.total_bounds(polygons)
    rng = np.random.default_rng(seed)
    lngs = rng.uniform(min_lng, max_lng, n_points)
    lats = rng.uniform(min_lat, max_lat, n_points)
    shapely.prepare(polygons)
    tree = STRtree(polygons)
    locate_many(lats[:10], lngs[:10])  # build the index outside the timing

    best: dict[str, float] = {}

    def keep(key: str, seconds: float) -> None:
        best[key] = min(best.get(key, float("inf")), max(seconds, 1e-9))

    def time_locate() -> np.ndarray:
        wall, cpu = time.perf_counter(), time.process_time()
        ids = locate_many(lats, lngs)
        keep("locate_cpu", time.process_time() - cpu)
        keep("locate_wall", time.perf_counter() - wall)
        return ids

    def time_raw() -> np.ndarray:
        wall, cpu = time.perf_counter(), time.process_time()
        points = shapely.points(lngs, lats)
        query_cpu = time.process_time()
        hits = tree.query(points, predicate="intersects")
        keep("query_cpu", time.process_time() - query_cpu)
        del points  # locate_many frees its points before returning; so must the raw side
        keep("raw_cpu", time.process_time() - cpu)
        keep("raw_wall", time.perf_counter() - wall)
        return hits

    ids = hits = np.empty(0)
    for run_number in range(max(1, repeat)):
        # Alternate which side goes first, so neither always runs on a warmer machine.
        if run_number % 2 == 0:
            ids, hits = time_locate(), time_raw()
        else:
            hits, ids = time_raw(), time_locate()

    return {
        "n_points": n_points,
        "cells": len(polygons),
        "located": int((ids >= 0).sum()),
        "raw_located": len(np.unique(hits[0])),
        "locate_many_pts_per_s": round(n_points / best["locate_cpu"]),
        "raw_strtree_pts_per_s": round(n_points / best["raw_cpu"]),
        "ratio": round(best["raw_cpu"] / best["locate_cpu"], 3),
        "raw_query_only_pts_per_s": round(n_points / best["query_cpu"]),
        "locate_many_wall_s": round(best["locate_wall"], 4),
        "raw_strtree_wall_s": round(best["raw_wall"], 4),
        "wall_ratio": round(best["raw_wall"] / best["locate_wall"], 3),
        "repeat": max(1, repeat),
    }


def _ensure_cells() -> list[Any]:
    from django.core.management import call_command
    from django.db import connection

    from civicgrid.geo.models import GridCell
    from civicgrid.geo.sample import rectangular_grid
    from civicgrid.geo.services import grid_import

    if GridCell._meta.db_table not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)
    if not GridCell.objects.filter(is_active=True).exists():
        grid_import(
            actor=None,
            geojson=rectangular_grid(
                community_code="420106001001", rows=6, cols=10, cell_deg=0.003
            ),
        )
    return list(GridCell.objects.filter(is_active=True).order_by("code"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.config.settings.base")
    import django

    django.setup()
    cells = _ensure_cells()
    result = run(args.points, cells, seed=args.seed, repeat=args.repeat)
    import shapely

    result["machine"] = {
        "python": platform.python_version(),
        "shapely": shapely.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
