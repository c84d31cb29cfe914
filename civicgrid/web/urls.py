from django.contrib.auth import views as auth_views
from django.urls import path

from . import security_views, views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", security_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/two-factor/",
        security_views.two_factor_verify_view,
        name="two_factor_verify",
    ),
    path("accounts/two-factor/setup/", security_views.two_factor_setup, name="two_factor_setup"),
    path("accounts/security/", security_views.account_security, name="account_security"),
    path(
        "accounts/security/remove/",
        security_views.two_factor_remove_view,
        name="two_factor_remove",
    ),
    path("report/", views.report, name="report"),
    path("report/duplicates/", views.report_duplicates, name="report_duplicates"),
    path("report/questions/", views.report_questions, name="report_questions"),
    path("my/", views.my_cases, name="my_cases"),
    path("queue/", views.queue, name="queue"),
    path("public/cases/", views.public_cases, name="public_cases"),
    path("cases/<str:number>/", views.case_detail, name="case"),
    path("cases/<str:number>/photos/<int:photo_id>/", views.case_photo, name="case_photo"),
    path("cases/<str:number>/<slug:step>/", views.case_step, name="case_step"),
    path("keys/", views.client_keys, name="client_keys"),
    path("keys/<int:key_id>/revoke/", views.client_key_revoke_view, name="client_key_revoke"),
    path("map/cells.geojson", views.map_cells, name="map_cells"),
    path("map/basemap.geojson", views.map_basemap, name="map_basemap"),
    path("prefs/large-text/", views.large_text, name="large_text"),
]
