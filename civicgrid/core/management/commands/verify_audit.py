"""`manage.py verify_audit`: recompute the audit hash chain; exit status 1 when it is broken."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.core.services import audit_verify


class Command(BaseCommand):
    help = "Check the audit log's hash chain and published heads. Seals nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        self.stdout.write(
            ngettext(
                "Checked %(count)d sealed row.",
                "Checked %(count)d sealed rows.",
                result.checked_count,
            )
            % {"count": result.checked_count}
        )
        self.stdout.write(
            _("Unsealed rows (not checked yet): %(count)d.") % {"count": result.unsealed_count}
        )
        if not result.ok:
            raise CommandError(
                _("The audit chain is broken at row %(id)s: %(reason)s")
                % {"id": result.broken_record_id, "reason": result.reason}
            )
        self.stdout.write(self.style.SUCCESS(_("OK")))
