"""Operations endpoints: liveness, readiness and Prometheus metrics (see docs/operations.md).

Included at the site root by ``civicgrid.config.urls``, before the page URLs.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from . import health, metrics

urlpatterns: list[URLPattern] = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
