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
    # A file, not :memory:. With an in-memory database Django's live server shares one SQLite
    # connection between its request threads, and a page that loads two photos at once then
    # fails with "bad parameter or other API misuse". A file gives every thread its own
    # connection, in WAL mode with the busy timeout, as in production. One file per process
    # (pytest-xdist workers get a suffix from pytest-django); it is deleted after the run.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("CIVICGRID_TEST_DB")
        or str(Path(tempfile.gettempdir()) / f"civicgrid-test-{os.getpid()}.sqlite3")
    }
LANGUAGE_CODE = "en"
# Tests roll the database back between them but share the process's memory cache: a cached
# public list would outlive its test. The read cache's own tests turn it on.
CIVICGRID_PUBLIC_CACHE_SECONDS = 0
