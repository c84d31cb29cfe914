"""Settings for the test suite: the same stack, faster hashing, tasks run at once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="civicgrid-test-media-"))
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
if not os.environ.get("DATABASE_URL"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("CIVICGRID_TEST_DB", "")}
LANGUAGE_CODE = "en"
