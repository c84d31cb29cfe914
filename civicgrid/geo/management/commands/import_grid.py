"""``manage.py import_grid FILE.geojson [--community CODE] [--actor USERNAME]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicgrid.geo.errors import GeoError
from civicgrid.geo.management.files import actor_named, read_file, refused
from civicgrid.geo.services import grid_import


class Command(BaseCommand):
    help = "Import grid cells (and areas) from a GeoJSON FeatureCollection; all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="GeoJSON file (UTF-8)")
        parser.add_argument(
            "--community", default=None, help="every cell must belong to this 12-digit community"
        )
        parser.add_argument(
            "--actor", default=None, help="username recorded in the audit log (default: system)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        text = read_file(path)
        actor = actor_named(options["actor"])
        try:
            report = grid_import(actor=actor, geojson=text, community_code=options["community"])
        except GeoError as exc:
            raise refused(path, exc, self.stderr) from None
        self.stdout.write(
            f"Imported {path}: {report.created_count} cells created, "
            f"{report.updated_count} updated, {len(report.areas_created)} areas created, "
            f"{len(report.areas_updated)} updated."
        )
        for gap in report.gaps:
            self.stdout.write(
                f"Gap: {gap.gap_share:.2%} of community {gap.community_code} is covered by no "
                f"cell ({gap.gap_parts} piece(s))."
            )
