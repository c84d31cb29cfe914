"""`manage.py backup [--output PATH]` (or `civicgrid backup`): database and photos in one tar.

Safe while the site runs. Exit status 2 when the output exists or the database cannot be
backed up, 1 when pg_dump is missing or fails. See docs/operations.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.backup import INPUT_ERRORS, backup_create, default_backup_dir
from civicgrid.core.errors import CoreError


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # not reached


class Command(BaseCommand):
    help = "Back up the database and the media directory into one archive (safe while running)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            default=None,
            help=(
                "the archive to write, or a directory (existing, or ending with /) for a"
                " timestamped name"
                f" (default: {default_backup_dir()}/civicgrid-backup-YYYYMMDD-HHMMSS.tar)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_create(output=options["output"])
        except CoreError as exc:
            raise CommandError(
                exc.message, returncode=2 if exc.code in INPUT_ERRORS else 1
            ) from exc
        except OSError as exc:  # e.g. no space left, no permission on the directory
            raise CommandError(str(exc), returncode=1) from exc
        manifest = result.manifest
        counts = manifest["row_counts"]
        audit = manifest["audit"]
        self.stdout.write(
            _("Backup written: %(path)s (%(size)s).")
            % {"path": result.path, "size": size_text(result.path.stat().st_size)}
        )
        self.stdout.write(
            _("Database (%(engine)s): %(rows)d rows in %(tables)d tables.")
            % {"engine": manifest["engine"], "rows": sum(counts.values()), "tables": len(counts)}
        )
        self.stdout.write(
            _("Media: %(files)d files (%(size)s).")
            % {"files": manifest["media"]["files"], "size": size_text(manifest["media"]["bytes"])}
        )
        self.stdout.write(
            _("Audit chain head: seq %(seq)d, row %(id)d, hash %(hash)s; %(unsealed)d unsealed.")
            % {
                "seq": audit["last_seq"],
                "id": audit["last_record_id"],
                "hash": audit["last_hash"] or "-",
                "unsealed": audit["unsealed_count"],
            }
        )
