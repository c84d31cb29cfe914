"""`manage.py ensure_database` against the PostgreSQL server of this machine, as `make run`
calls it: a missing database is created; one that cannot be is named in one line, not a
traceback; SQLite needs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

psycopg = pytest.importorskip("psycopg")

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
SERVER = "postgres://postgres@127.0.0.1:5432"


def _admin() -> object:
    try:
        return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"PostgreSQL is not reachable at {SERVER}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {SERVER}")


@pytest.fixture
def fresh_name() -> Iterator[str]:
    name = f"cg_ensure_{uuid.uuid4().hex[:10]}"
    yield name
    with _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def ensure(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CIVICGRID_VAR_DIR": str(tmp_path)}
    env["DJANGO_SETTINGS_MODULE"] = "civicgrid.config.settings.base"
    env["CIVICGRID_LANGUAGE"] = "en"
    return subprocess.run(
        [sys.executable, MANAGE, "ensure_database"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def exists(name: str) -> bool:
    with _admin() as conn:  # type: ignore[attr-defined]
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def test_a_missing_database_is_created_once(fresh_name, tmp_path):
    # given
    _admin().close()  # type: ignore[attr-defined]
    assert not exists(fresh_name)

    # when
    first = ensure(f"{SERVER}/{fresh_name}", tmp_path)
    second = ensure(f"{SERVER}/{fresh_name}", tmp_path)

    # then
    assert first.returncode == 0, first.stderr
    assert f"Created the PostgreSQL database “{fresh_name}”." in first.stdout
    assert exists(fresh_name)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""


def test_a_database_the_user_may_not_create_is_named_with_what_to_run(fresh_name, tmp_path):
    # given a login without the CREATEDB right
    role = f"cg_nocreate_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        # when
        result = ensure(f"postgres://{role}@127.0.0.1:5432/{fresh_name}", tmp_path)
    finally:
        with _admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP ROLE "{role}"')

    # then one line, no traceback, and nothing was made
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"The database “{fresh_name}” does not exist and could not be created" in result.stderr
    assert f"createdb -h 127.0.0.1 -U {role} {fresh_name}" in result.stderr
    assert not exists(fresh_name)


def test_a_server_that_does_not_answer_is_one_line(tmp_path):
    # when (port 1 on loopback: nothing listens there)
    result = ensure("postgres://postgres@127.0.0.1:1/civicgrid", tmp_path)

    # then
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Cannot connect to PostgreSQL at 127.0.0.1" in result.stderr


def test_sqlite_needs_nothing(tmp_path):
    env_url = ""  # the default: var/civicgrid.sqlite3
    result = ensure(env_url, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
