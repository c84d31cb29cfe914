"""`manage.py publish_audit_head`: seal, then publish today's chain head (once per day)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from civicgrid.core.services import audit_publish_head


class Command(BaseCommand):
    help = "Seal the audit log and publish today's chain head (idempotent per day)."

    def handle(self, *args: Any, **options: Any) -> None:
        publication = audit_publish_head()
        if publication is None:
            self.stdout.write(_("Nothing to publish: the audit log is empty."))
            return
        self.stdout.write(
            _("Head of %(day)s: row %(id)d, hash %(hash)s.")
            % {
                "day": publication.published_on.isoformat(),
                "id": publication.last_record_id,
                "hash": publication.last_hash,
            }
        )
