"""`manage.py seal_audit`: chain the unsealed audit rows now (the worker does this every few s)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import ngettext

from civicgrid.core.services import audit_seal


class Command(BaseCommand):
    help = "Chain every unsealed audit row onto the hash chain."

    def handle(self, *args: Any, **options: Any) -> None:
        sealed = audit_seal()
        self.stdout.write(
            ngettext("Sealed %(count)d row.", "Sealed %(count)d rows.", sealed) % {"count": sealed}
        )
