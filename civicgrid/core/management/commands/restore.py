"""`manage.py restore PATH [--yes]` (or `civicgrid restore`): put a backup back, then check it.

Stop the web and worker processes first. Exit status 2 (nothing changed) for a missing or
damaged archive, another engine, a newer schema, or a database that is not empty without
``--yes``; 1 when pg_restore fails or the restored state differs from the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.core.backup import INPUT_ERRORS, backup_restore
from civicgrid.core.errors import CoreError


class Command(BaseCommand):
    help = "Replace the database and the media directory with a backup, then verify the result."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a backup archive made by `backup`")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="replace a database that is not empty (everything in it is lost)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        try:
            result = backup_restore(path=path, replace=options["yes"])
        except CoreError as exc:
            raise CommandError(
                exc.message, returncode=2 if exc.code in INPUT_ERRORS else 1
            ) from exc
        except OSError as exc:  # e.g. no space left, no permission on the directory
            raise CommandError(str(exc), returncode=1) from exc
        manifest = result.manifest
        self.stdout.write(
            _("Restored %(path)s (made %(created)s by civicgrid %(version)s).")
            % {
                "path": path,
                "created": manifest.get("created_at", "?"),
                "version": manifest.get("civicgrid_version", "?"),
            }
        )
        if result.pending_migrations:
            count = len(result.pending_migrations)
            self.stdout.write(
                ngettext(
                    "%(count)d migration of this version is not applied yet: run `migrate`.",
                    "%(count)d migrations of this version are not applied yet: run `migrate`.",
                    count,
                )
                % {"count": count}
            )
        if not result.ok:
            raise CommandError(
                _("The restored data differs from the backup's manifest:")
                + "".join(f"\n- {difference}" for difference in result.differences),
                returncode=1,
            )
        self.stdout.write(
            _(
                "Checked: row counts of %(tables)d tables, the audit chain head (seq %(seq)d)"
                " and the whole chain, %(files)d media files."
            )
            % {
                "tables": len(manifest["row_counts"]),
                "seq": manifest["audit"]["last_seq"],
                "files": manifest["media"]["files"],
            }
        )
        self.stdout.write(self.style.SUCCESS(_("OK")))
