"""Hardening that holds on real pages and under the production settings: the
Content-Security-Policy of rendered pages, the HTTPS headers and cookie flags, and secrets that
come only from the environment."""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from civicgrid.cases.tests.factories import build_world, submit

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ROOT / "civicgrid" / "config" / "settings" / "production.py"


# --------------------------------------------------------------------------- CSP on real pages


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


class TagCollector(HTMLParser):
    """Every <script> and <style> start tag with its attributes, and every style attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style_attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self.tags.append((tag, values))
        if "style" in values:
            self.style_attributes.append(tag)


def check_csp(response: Any) -> tuple[str, list[tuple[str, dict[str, str | None]]]]:
    """Assert the page's policy and markup agree; return the nonce and the tags seen."""
    header = response["Content-Security-Policy"]
    directives = csp_directives(header)
    for name in ("script-src", "style-src"):
        sources = directives[name]
        assert "'unsafe-inline'" not in sources, (name, header)
        assert "'unsafe-eval'" not in sources, (name, header)
        assert "'self'" in sources
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    nonces = [s for s in directives["script-src"] if s.startswith("'nonce-")]
    assert len(nonces) == 1, header
    nonce = nonces[0][len("'nonce-") : -1]
    assert len(nonce) >= 16
    assert nonces == [s for s in directives["style-src"] if s.startswith("'nonce-")]

    parser = TagCollector()
    parser.feed(response.content.decode())
    for tag, attrs in parser.tags:
        if tag == "script":
            assert attrs.get("src") or attrs.get("nonce") == nonce, (tag, attrs)
        else:
            assert attrs.get("nonce") == nonce, (tag, attrs)
    # A style attribute is inline style, which this policy blocks: none may be relied on.
    assert parser.style_attributes == []
    return nonce, parser.tags


@pytest.mark.django_db
def test_real_pages_carry_a_strict_policy_and_only_nonced_or_external_scripts() -> None:
    # given
    world = build_world()
    case = submit(world)
    anonymous = Client()
    resident = Client()
    resident.force_login(world.users["resident"])
    operator = Client()
    operator.force_login(world.users["operator"])

    # when
    pages = {
        "home (anonymous)": anonymous.get("/"),
        "home (staff)": operator.get("/"),
        "login": anonymous.get("/accounts/login/"),
        "report": resident.get("/report/"),
        "case (public)": anonymous.get(f"/cases/{case.number}/"),
        "case (staff)": operator.get(f"/cases/{case.number}/"),
        "public cases": anonymous.get("/public/cases/"),
        "authenticator set-up": operator.get("/accounts/two-factor/setup/"),
        "account security": operator.get("/accounts/security/"),
    }

    # then
    seen_nonces = set()
    script_count = 0
    for name, response in pages.items():
        assert response.status_code == 200, name
        nonce, tags = check_csp(response)
        seen_nonces.add(nonce)
        script_count += sum(1 for tag, _attrs in tags if tag == "script")
    assert len(seen_nonces) == len(pages)  # a fresh nonce for every response
    assert script_count >= len(pages)  # the pages do load scripts (htmx at least)


def test_the_check_catches_an_inline_script_without_the_nonce() -> None:
    # given: a page as a careless template would render it
    class Page:
        content = b"<html><script>alert(1)</script></html>"

        def __getitem__(self, name: str) -> str:
            return (
                "default-src 'self'; script-src 'self' 'nonce-abcdefghijklmnop'; "
                "style-src 'self' 'nonce-abcdefghijklmnop'; object-src 'none'; "
                "frame-ancestors 'none'"
            )

    # when / then
    with pytest.raises(AssertionError):
        check_csp(Page())


# --------------------------------------------------------------------------- production settings


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "CIVICGRID_VAR_DIR": str(tmp_path),
        **extra,
    }
    env.pop("DATABASE_URL", None)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from civicgrid.accounts.models import User

call_command("migrate", verbosity=0)
User.objects.create_user(username="rita", password="a-long-test-password-7531")
client = Client()
plain = client.get("/accounts/login/")
probe = client.get("/healthz", secure=True)
login = client.post(
    "/accounts/login/",
    {"username": "rita", "password": "a-long-test-password-7531"},
    secure=True,
)

def flags(name):
    morsel = login.cookies[name]
    return {
        "secure": bool(morsel["secure"]),
        "httponly": bool(morsel["httponly"]),
        "samesite": morsel["samesite"],
    }

print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "hsts": probe.get("Strict-Transport-Security", ""),
    "nosniff": probe.get("X-Content-Type-Options", ""),
    "referrer": probe.get("Referrer-Policy", ""),
    "login_status": login.status_code,
    "session": flags("sessionid"),
    "csrf": flags("csrftoken"),
}))
"""


def test_production_sends_hsts_and_secure_cookies(tmp_path: Path) -> None:
    # given: the production settings with a fresh SQLite database

    # when
    result = run_python(PRODUCTION_PROBE, production_env(tmp_path))

    # then
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://testserver/accounts/login/"
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["nosniff"] == "nosniff"
    assert seen["referrer"] == "same-origin"
    assert seen["login_status"] == 302
    assert seen["session"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    # htmx reads the CSRF token from the page, so the cookie need not be HttpOnly; it is Secure.
    assert seen["csrf"]["secure"] is True
    assert seen["csrf"]["samesite"] == "Lax"


SETTINGS_PROBE = """
import json
from django.conf import settings
print(json.dumps({"two_factor": settings.CIVICGRID_STAFF_2FA, "debug": settings.DEBUG}))
"""


def test_production_requires_staff_two_factor_by_default(tmp_path: Path) -> None:
    # when
    default = run_python(SETTINGS_PROBE, production_env(tmp_path))
    chosen = run_python(SETTINGS_PROBE, production_env(tmp_path, CIVICGRID_STAFF_2FA="optional"))
    wrong = run_python(SETTINGS_PROBE, production_env(tmp_path, CIVICGRID_STAFF_2FA="sometimes"))

    # then
    assert json.loads(default.stdout) == {"two_factor": "required", "debug": False}
    assert json.loads(chosen.stdout)["two_factor"] == "optional"
    assert wrong.returncode != 0
    assert (
        "CIVICGRID_STAFF_2FA must be one of required, optional, off; it is 'sometimes'."
        in wrong.stderr
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CIVICGRID_LOGIN_FAILURE_LIMIT", "five", "must be a whole number; it is 'five'."),
        ("CIVICGRID_LOGIN_FAILURE_LIMIT", "0", "must be at least 1; it is 0."),
        ("CIVICGRID_LOGIN_COOLOFF_MINUTES", "-5", "must be at least 1; it is -5."),
        ("CIVICGRID_TRUSTED_PROXY_COUNT", "1.5", "must be a whole number; it is '1.5'."),
    ],
)
def test_bad_lockout_settings_stop_the_start_with_their_name(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    # when
    result = run_python(SETTINGS_PROBE, production_env(tmp_path, **{name: value}))

    # then
    assert result.returncode != 0
    assert f"{name} {message}" in result.stderr


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("x" * 49, "short"),
        ("dev-only-insecure-key-change-me-in-production-but-long-enough-now", "the dev key"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, value, why) -> None:
    # given
    env = production_env(tmp_path)
    if value is None:
        del env["DJANGO_SECRET_KEY"]
    else:
        env["DJANGO_SECRET_KEY"] = value

    # when
    result = run_python(SETTINGS_PROBE, env)

    # then
    assert result.returncode != 0, why
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set to a random value of 50+ characters." in result.stderr


SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL|PRIVATE)", re.IGNORECASE)
# Long runs of key-like characters: what a pasted key, token or password hash looks like.
SECRET_LOOKING = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")
# Names of settings and environment variables, and dotted import paths, are not secrets.
NAME_LIKE = re.compile(r"^([A-Z][A-Z0-9_]*|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+)$")


def string_literals(tree: ast.AST) -> list[str]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def secret_findings(source: str) -> tuple[list[str], list[str]]:
    """The values assigned to secret-sounding names, and key-like string literals anywhere."""
    tree = ast.parse(source)
    assigned = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(SECRET_NAME.search(name) for name in names):
                assigned.append(ast.unparse(node.value))
    literals = [
        text
        for text in string_literals(tree)
        if SECRET_LOOKING.search(text) and not NAME_LIKE.match(text)
    ]
    return assigned, literals


def test_no_secret_looking_literal_is_in_the_production_settings() -> None:
    # when
    assigned, literals = secret_findings(PRODUCTION.read_text(encoding="utf-8"))

    # then: the secret key is read from the environment with an empty default, nothing else
    assert assigned == ["os.environ.get('DJANGO_SECRET_KEY', '')"]
    assert literals == []


def test_the_scan_would_catch_a_pasted_key_or_password() -> None:
    # given
    source = (
        'SECRET_KEY = "k2v9Zx0Qp7LmN4bR8tY1wE6uI3oP5aSdFgHjKl"\n'
        'EMAIL_HOST_PASSWORD = "hunter2"\n'
        'DATABASES = {"default": {"URL": "postgres://app:Sup3rS3cretPassw0rdValue@db/app"}}\n'
        'STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"\n'
    )

    # when
    assigned, literals = secret_findings(source)

    # then
    assert assigned == ["'k2v9Zx0Qp7LmN4bR8tY1wE6uI3oP5aSdFgHjKl'", "'hunter2'"]
    assert literals == [
        "k2v9Zx0Qp7LmN4bR8tY1wE6uI3oP5aSdFgHjKl",
        "postgres://app:Sup3rS3cretPassw0rdValue@db/app",
    ]
