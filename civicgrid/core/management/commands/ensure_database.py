"""`manage.py ensure_database`: make sure the configured database exists before `migrate`.

`make run` calls it first. SQLite needs nothing (the file is made on first use, in a folder the
settings create). For PostgreSQL it connects; when the server answers that the database does
not exist, it connects to the server's `postgres` database with the same credentials and
creates it. When that is not allowed (no CREATEDB right, no such server), it stops with one
line saying what is wrong and what to run, instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils.translation import gettext as _

MAINTENANCE_DB = "postgres"


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database when it does not exist yet."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--database", default="default", help="the alias in DATABASES")

    def handle(self, *args: Any, **options: Any) -> None:
        alias: str = options["database"]
        if alias not in connections.databases:
            raise CommandError(_("There is no database alias “%(alias)s”.") % {"alias": alias})
        settings_dict = connections.databases[alias]
        if settings_dict["ENGINE"] != "django.db.backends.postgresql":
            return  # SQLite: the file is created when first opened
        import psycopg  # only PostgreSQL installs need it
        from psycopg import sql

        name = str(settings_dict["NAME"])
        params: dict[str, Any] = {
            "host": settings_dict.get("HOST") or None,
            "port": settings_dict.get("PORT") or None,
            "user": settings_dict.get("USER") or None,
            "password": settings_dict.get("PASSWORD") or None,
            "connect_timeout": 10,
        }
        where = f"{params['host'] or 'the local socket'}"
        try:
            psycopg.connect(dbname=name, **params).close()
            return
        except psycopg.OperationalError as error:
            if f'database "{name}" does not exist' not in str(error):
                raise CommandError(
                    _("Cannot connect to PostgreSQL at %(where)s: %(error)s")
                    % {"where": where, "error": str(error).strip().splitlines()[0]}
                ) from None
        try:
            with psycopg.connect(dbname=MAINTENANCE_DB, autocommit=True, **params) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            user = params["user"] or "postgres"
            raise CommandError(
                _(
                    "The database “%(name)s” does not exist and could not be created "
                    "(%(error)s). Create it with: createdb -h %(host)s -U %(user)s %(name)s"
                )
                % {
                    "name": name,
                    "error": str(error).strip().splitlines()[0],
                    "host": params["host"] or "localhost",
                    "user": user,
                }
            ) from None
        self.stdout.write(_("Created the PostgreSQL database “%(name)s”.") % {"name": name})
