"""``manage.py import_basemap FILE.geojson [--actor USERNAME]``: replace the offline base map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.geo.basemap import basemap_import
from civicgrid.geo.errors import GeoError


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
        if not path.is_file():
            raise CommandError(f"The file {path} does not exist or is not a file.")
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"The file {path} cannot be read: {exc.strerror}.") from None
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"There is no user named {options['actor']}.")
        try:
            report = basemap_import(actor=actor, geojson=text)
        except GeoError as exc:
            for problem in exc.details.get("problems", []):
                self.stderr.write(
                    f"feature {problem['index']}: [{problem['problem']}] {problem['message']}"
                )
            raise CommandError(f"{path}: {exc.message}") from None
        parts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items() if n)
        self.stdout.write(f"Imported {path}: {report.total} features ({parts or 'none'}).")
