"""Settings of the HTTP benchmarks: the production stack without TLS, plus a bare view.

The bare view is the limit every ratio is measured against: a Django JSON view behind the same
middleware, served by the same gunicorn in the same run. Never deploy these settings.
"""

from __future__ import annotations

from civicgrid.config.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
