"""Project-wide checks that need no app: settings load, system checks pass, admin answers."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client


def test_system_checks_pass() -> None:
    # when / then: raises SystemCheckError on any error
    call_command("check", fail_level="ERROR")


@pytest.mark.django_db
def test_admin_login_page_answers(client: Client) -> None:
    # when
    response = client.get("/admin/login/")

    # then
    assert response.status_code == 200
    assert response["X-Request-ID"] != ""


@pytest.mark.parametrize("url_style", ["default", "database_url"])
def test_sqlite_runs_in_wal_with_a_busy_timeout_however_it_is_named(
    url_style: str, tmp_path: object
) -> None:
    """Writers must queue (busy timeout, IMMEDIATE) and readers run beside them (WAL), also when
    DATABASE_URL names a SQLite file, as the benchmarks and many deployments do."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "civicgrid.config.settings.base"
    env["CIVICGRID_VAR_DIR"] = str(tmp_path)
    if url_style == "database_url":
        env["DATABASE_URL"] = f"sqlite:///{Path(str(tmp_path)) / 'named.sqlite3'}"
    code = (
        "import django; django.setup();"
        "from django.db import connection;"
        "c = connection.cursor();"
        "print(c.execute('PRAGMA journal_mode').fetchone()[0],"
        " c.execute('PRAGMA busy_timeout').fetchone()[0],"
        " connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["wal", "20000", "IMMEDIATE"], out.stderr
