"""``manage.py two_factor_reset <username>``: remove a user's authenticator and backup codes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.accounts.models import User
from civicgrid.accounts.services import two_factor_remove
from civicgrid.core.errors import CivicError


class Command(BaseCommand):
    help = (
        "Remove a user's authenticator app and backup codes (a lost phone). Under "
        "CIVICGRID_STAFF_2FA=required they set up a new one at their next login. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        try:
            removed = two_factor_remove(actor=None, user=user)
        except CivicError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Removed {removed} second-factor device(s) of {user.username}.")
