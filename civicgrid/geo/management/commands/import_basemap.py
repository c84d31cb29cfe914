"""``manage.py import_basemap FILE.geojson [--actor USERNAME]``: replace the offline base map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicgrid.geo.basemap import basemap_import
from civicgrid.geo.errors import GeoError
from civicgrid.geo.management.files import actor_named, read_file, refused


class Command(BaseCommand):
    help = (
        "Replace the offline base map (streets, paths, buildings, greens, water, landmarks) "
        "with a GeoJSON FeatureCollection; all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="GeoJSON file (UTF-8)")
        parser.add_argument(
            "--actor", default=None, help="username recorded in the audit log (default: system)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        text = read_file(path)
        actor = actor_named(options["actor"])
        try:
            report = basemap_import(actor=actor, geojson=text)
        except GeoError as exc:
            raise refused(path, exc, self.stderr) from None
        parts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items() if n)
        self.stdout.write(f"Imported {path}: {report.total} features ({parts or 'none'}).")
