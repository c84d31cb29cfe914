"""`manage.py check --deploy` is clean under the production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "civicgrid.example.org",
        "CIVICGRID_VAR_DIR": str(tmp_path),
        **extra,
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_the_development_secret_key(tmp_path):
    result = run_check(tmp_path, DJANGO_SECRET_KEY="dev-only-insecure-key-change-me-in-production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
