from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("civicgrid.core.urls")),  # /healthz, /readyz, /metrics
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("civicgrid.config.api_urls")),
    path("open311/", include("civicgrid.open311.urls")),
    path("", include("civicgrid.web.urls")),
]
# Uploaded photos are never served from /media/: they go through the access-checked views
# (/cases/<number>/photos/<id>/ and /api/v1/cases/<number>/photos/<id>).

# The site's own error pages in the reader's language (JSON under /api/): civicgrid/web/errors.py.
handler400 = "civicgrid.web.errors.bad_request"
handler403 = "civicgrid.web.errors.permission_denied"
handler404 = "civicgrid.web.errors.page_not_found"
handler500 = "civicgrid.web.errors.server_error"
