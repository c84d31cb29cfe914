"""`manage.py worker` and `manage.py serve` as real processes against a temporary SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("civicgrid-var")
    subprocess.run(
        [sys.executable, MANAGE, "migrate", "--noinput", "--skip-checks", "-v", "0"],
        env=process_env(path),
        check=True,
        timeout=120,
    )
    yield path


def process_env(var_dir: Path) -> dict[str, str]:
    # Always SQLite here, and DEBUG as `make run` has it: unset.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_DEBUG")}
    env.update(
        {
            "CIVICGRID_VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings.base",
            "CIVICGRID_SEAL_INTERVAL_S": "1",
            "CIVICGRID_LANGUAGE": "en",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def unsealed_count(var_dir: Path) -> int:
    with sqlite3.connect(var_dir / "civicgrid.sqlite3", timeout=10) as db:
        return db.execute(
            "SELECT COUNT(*) FROM core_auditrecord WHERE seal_seq IS NULL"
        ).fetchone()[0]


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_seals_audit_rows_and_stops_cleanly_on_sigterm(var_dir):
    # given a running worker
    env = process_env(var_dir)
    worker = subprocess.Popen(
        [sys.executable, MANAGE, "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # when rows are written by another process
        subprocess.run(
            [
                sys.executable,
                MANAGE,
                "shell",
                "-c",
                "from civicgrid.core.services import audit_record\n"
                "for n in range(5): audit_record(actor=None, action='test.worker', data={'n': n})",
            ],
            env=env,
            check=True,
            timeout=60,
        )
        # then they are sealed within a few seconds
        assert wait_for(lambda: unsealed_count(var_dir) == 0, timeout_s=8)

        # and SIGTERM stops the worker with status 0
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, stderr
    assert "Worker started: task worker; periodic jobs (" in stdout
    assert stdout.rstrip().endswith("Worker stopped.")
    with sqlite3.connect(var_dir / "civicgrid.sqlite3") as db:
        rows = db.execute(
            "SELECT seal_seq, length(hash) FROM core_auditrecord WHERE action = 'test.worker'"
            " ORDER BY id"
        ).fetchall()
    assert [length for _seq, length in rows] == [64] * 5
    assert [seq for seq, _length in rows] == sorted(seq for seq, _length in rows)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_requests_and_stops_on_sigterm(var_dir):
    # given
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, MANAGE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=process_env(var_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def answers() -> bool:
            try:
                with urllib.request.urlopen(  # a local http URL
                    f"http://127.0.0.1:{port}/admin/login/", timeout=2
                ) as response:
                    return response.status == 200 and bool(response.headers["X-Request-ID"])
            except OSError:
                return False

        def fetch(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        # when / then
        assert wait_for(answers, timeout_s=10)
        # DEBUG is off: an unknown address gets the site's page, not Django's list of URLs
        status, body = fetch("/no/such/page/")
        assert status == 404
        assert 'data-error-status="404"' in body
        assert "URLconf" not in body
        # and the static files are still served, without collectstatic
        status, body = fetch("/static/web/app.css")
        assert status == 200
        assert ".site-header" in body
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, stderr
    assert f"civicgrid: open http://127.0.0.1:{port}/" in stdout
    assert "Running in this process: task worker; periodic jobs (" in stdout
