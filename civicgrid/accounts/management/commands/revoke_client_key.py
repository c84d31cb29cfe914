"""``manage.py revoke_client_key PREFIX_OR_ID``: revoke an Open311 API key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.accounts.selectors import client_key_find
from civicgrid.accounts.services import client_key_revoke
from civicgrid.core.errors import CivicError

BAD_ARGUMENTS = 2


class Command(BaseCommand):
    help = "Revoke an Open311 api_key, named by its id or its 8-character prefix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="The key's id or its prefix (as listed in the admin).")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["key"]
        found = client_key_find(ref)
        if not found:
            raise CommandError(f"No API key with id or prefix {ref!r}.", returncode=BAD_ARGUMENTS)
        if len(found) > 1:
            ids = ", ".join(str(k.pk) for k in found)
            raise CommandError(
                f"{ref!r} names {len(found)} keys (ids {ids}); give the id.",
                returncode=BAD_ARGUMENTS,
            )
        try:
            key = client_key_revoke(actor=None, key=found[0])
        except CivicError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Key {key.prefix}… ({key.name}) of {key.organization.code} revoked; requests with "
            "it are refused from now on."
        )
