"""The JSON API: one NinjaAPI, routers from each app."""

from django.urls import path

from .api import api

urlpatterns = [path("v1/", api.urls)]
