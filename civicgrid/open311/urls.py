"""Open311 GeoReport v2 under /open311/: discovery at /open311/discovery.{fmt}, the endpoint at
/open311/v2/. The format is the suffix; a doubled slash before a method name is tolerated
(clients build ``endpoint + "/requests.xml"`` from an endpoint that may end in "/")."""

from django.urls import URLPattern, re_path

from . import views

app_name = "open311"

FMT = r"\.(?P<fmt>[^/.]+)$"  # the last suffix; views accept xml and json, 404 otherwise
V2 = r"^v2/+"

urlpatterns: list[URLPattern] = [
    re_path(r"^discovery" + FMT, views.discovery, name="discovery"),
    re_path(r"^v2/?$", views.endpoint, name="endpoint"),
    re_path(V2 + r"discovery" + FMT, views.discovery),
    re_path(V2 + r"services" + FMT, views.services, name="services"),
    re_path(V2 + r"services?/(?P<code>[^/]+?)" + FMT, views.service_definition, name="service"),
    re_path(V2 + r"requests\.atom$", views.feed, name="feed"),
    re_path(V2 + r"requests" + FMT, views.requests, name="requests"),
    re_path(V2 + r"requests/(?P<request_id>[^/]+?)" + FMT, views.request_detail, name="request"),
    re_path(V2 + r"tokens/(?P<token>[^/]+?)" + FMT, views.token, name="token"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
