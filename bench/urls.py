"""The site's URLs plus ``/bench/bare/``: the smallest JSON answer Django gives through the
same middleware (sessions, CSRF, locale, CSP, request ids, logging)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path
from django.utils import timezone

from civicgrid.config.urls import urlpatterns as site_urlpatterns


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat()})


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare),
    *site_urlpatterns,
]
