"""The real, unmodified ``open311`` client from PyPI (Python 2.7) against the running server.

The client is installed at test time into its own directory under ``var/`` with Python 2.7's
pip (pyenv holds 2.7 here), then ``tests/clients/open311_py27_driver.py`` runs it through
service list, service definition, POST, GET by id, GET list and token lookup over real HTTP.
The client has quirks the server must tolerate: it calls ``/service/{code}.xml``, sends
``jurisdiction_id=`` empty, puts ``api_key`` in the query string of the POST, and builds the
POST URL as ``endpoint + '/requests.xml'`` (a doubled slash when the endpoint ends in ``/``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer

from civicgrid.accounts.models import Organization, OrganizationKind
from civicgrid.accounts.services import client_key_issue
from civicgrid.cases.models import Case, Source
from civicgrid.cases.tests.factories import build_world

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "clients" / "open311_py27_driver.py"
CLIENT_DIR = ROOT / "var" / "clients" / "open311-1.1-py27"
CLIENT_REQUIREMENT = "open311==1.1"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _python27() -> str | None:
    candidates = [os.environ.get("CIVICGRID_PYTHON27", "")]
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        root = str(Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in Path(root).glob("versions/2.7*/bin/python2.7"))
    candidates.append("/usr/bin/python2.7")
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def open311_client() -> tuple[str, Path]:
    """Python 2.7 and a directory holding the ``open311`` package (installed once)."""
    python = _python27()
    if python is None:
        reason = "Python 2.7 is needed to run the real open311 client (pyenv install 2.7.18)"
        if _in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    marker = CLIENT_DIR / ".installed"
    if not marker.exists():
        CLIENT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "--target",
                str(CLIENT_DIR),
                CLIENT_REQUIREMENT,
            ],
            check=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        marker.write_text(CLIENT_REQUIREMENT + "\n")
    return python, CLIENT_DIR


def test_the_pypi_open311_client_reports_and_reads_back(
    live_server: LiveServer, open311_client: tuple[str, Path]
) -> None:
    # given a community with a street-light category and an issued API key
    python, client_dir = open311_client
    world = build_world()
    light = world.categories["light"]
    app = Organization.objects.create(kind=OrganizationKind.CLIENT, code="city-app", name="App")
    key, raw = client_key_issue(actor=None, organization=app, name="python client")

    # when the unmodified client walks the API (endpoint with a trailing slash, as users write it)
    result = subprocess.run(
        [
            python,
            str(DRIVER),
            f"{live_server.url}/open311/v2/",
            raw,
            light.code,
            str(world.inside_lat),
            str(world.inside_lng),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(client_dir), "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])

    # then it saw our services and definition, created exactly one case and read it back
    assert light.code in out["service_codes"]
    assert out["definition_code"] == light.code
    case = Case.objects.get()
    assert out["posted_id"] == case.number
    assert case.source == Source.OPEN311
    assert case.client_key_id == key.pk
    assert case.category_id == light.pk
    assert case.reporter_name == "Zhang San"
    assert case.reporter_email == "zhang.san@example.com"
    assert out["got"]["service_request_id"] == case.number
    assert out["got"]["status"] == "open"
    assert out["got"]["service_code"] == light.code
    assert out["got"]["description"] == "Street light out at the corner (open311 client)"
    assert out["got"]["requested_datetime"].endswith("+08:00")
    assert out["listed_ids"] == [case.number]
    assert out.get("token_id") == case.number
    # and the reporter's name and email never came back through Open311
    assert "Zhang" not in result.stdout
    assert "example.com" not in result.stdout
