"""``manage.py issue_token <username> <name>``: issue an API token and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.accounts.models import User
from civicgrid.accounts.services import api_token_issue
from civicgrid.core.errors import CivicError


class Command(BaseCommand):
    help = "Issue a personal API token for a user and print it (it is shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="What the token is for, e.g. 'field app'.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        try:
            token, raw = api_token_issue(actor=None, user=user, name=options["name"])
        except CivicError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
        self.stderr.write(f"Token {token.prefix}… ({token.name}) issued for {user.username}.")
