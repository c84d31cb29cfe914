"""``manage.py issue_client_key --organization CODE --name NAME [--rate N]``: issue an Open311
API key to a client organization and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.accounts.models import OrganizationKind
from civicgrid.accounts.selectors import organization_by_code
from civicgrid.accounts.services import CLIENT_KEY_RATE_MAX, client_key_issue
from civicgrid.core.errors import CivicError

BAD_ARGUMENTS = 2


class Command(BaseCommand):
    help = (
        "Issue an Open311 api_key to a client organization (kind 'client') and print it on "
        "stdout; it is shown only this once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Code of the organization.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'iOS app'.")
        parser.add_argument(
            "--rate",
            type=int,
            default=60,
            help=f"Requests per minute, 1 to {CLIENT_KEY_RATE_MAX} (default 60).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        code = options["organization"]
        organization = organization_by_code(code)
        if organization is None:
            raise CommandError(f"No organization {code!r}.", returncode=BAD_ARGUMENTS)
        if organization.kind != OrganizationKind.CLIENT:
            raise CommandError(
                f"Organization {code!r} is a {organization.kind}, not an API client "
                "(kind 'client').",
                returncode=BAD_ARGUMENTS,
            )
        try:
            key, raw = client_key_issue(
                actor=None,
                organization=organization,
                name=options["name"],
                rate_per_minute=options["rate"],
            )
        except CivicError as exc:
            raise CommandError(exc.message, returncode=BAD_ARGUMENTS) from exc
        self.stdout.write(raw)
        self.stderr.write(
            f"Key {key.prefix}… ({key.name}) issued to {organization.code}, "
            f"{key.rate_per_minute} requests per minute. It is not shown again."
        )
