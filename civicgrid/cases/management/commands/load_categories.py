"""``manage.py load_categories [--file PATH] [--replace]``: load a case category tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.cases.categories import DEFAULT_CATEGORIES_PATH, category_tree_import
from civicgrid.cases.errors import CaseError


class Command(BaseCommand):
    help = (
        "Load the case category tree from a JSON document (the packaged defaults unless --file "
        "is given). Categories are matched by code; the whole file is checked before anything "
        "is saved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            dest="path",
            help="Path of a category document (JSON, UTF-8). Default: the packaged tree.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Treat the file as the whole tree: deactivate categories that are not in it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"]) if options["path"] else DEFAULT_CATEGORIES_PATH
        if not path.is_file():
            raise CommandError(f"Category file {path} does not exist or is not a file.")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"Category file {path} is not UTF-8 text (byte {exc.start} cannot be decoded)."
            ) from exc
        except OSError as exc:
            raise CommandError(f"Category file {path} cannot be read: {exc.strerror}.") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"Category file {path} is not valid JSON: {exc.msg} "
                f"at line {exc.lineno}, column {exc.colno}."
            ) from exc
        try:
            report = category_tree_import(actor=None, data=data, replace=options["replace"])
        except CaseError as exc:
            problems = exc.details.get("problems", [])
            lines = [f"Category file {path} was refused; nothing was saved."]
            lines += [f"  {p['field']}: {p['message']}" for p in problems] or [f"  {exc}"]
            raise CommandError("\n".join(lines)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {report.category_count} categories ({report.leaf_count} leaves) "
                f"from {path}: {report.created_count} created, {report.updated_count} updated, "
                f"{report.unchanged_count} unchanged, {report.deactivated_count} deactivated."
            )
        )
