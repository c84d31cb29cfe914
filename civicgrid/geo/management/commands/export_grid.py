"""``manage.py export_grid [--community CODE] [-o FILE]``: the grid as GeoJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.geo.errors import GeoError
from civicgrid.geo.services import grid_export


class Command(BaseCommand):
    help = "Export areas and active grid cells as a GeoJSON FeatureCollection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--community", default=None, help="only this area code prefix (6, 9 or 12 digits)"
        )
        parser.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            collection = grid_export(community_code=options["community"])
        except GeoError as exc:
            raise CommandError(exc.message) from None
        text = json.dumps(collection, ensure_ascii=False, indent=1)
        if options["output"]:
            path = Path(options["output"])
            if not path.parent.is_dir():
                raise CommandError(f"The directory {path.parent} does not exist.")
            try:
                path.write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"The file {path} cannot be written: {exc.strerror}.") from None
            cells = sum(1 for f in collection["features"] if "level" not in f["properties"])
            self.stdout.write(f"Wrote {cells} cells to {path}.")
        else:
            self.stdout.write(text)
