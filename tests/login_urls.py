"""A stand-in login form with the field names of the real one, to test the `login_as` fixture
without depending on the web app's templates."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import path
from django.utils.html import format_html

FORM = (
    '<!doctype html><title>Log in</title><form method="post">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
    '<input name="username"><input name="password" type="password">'
    '<button type="submit">Log in</button></form>'
)


def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        user = authenticate(
            request, username=request.POST["username"], password=request.POST["password"]
        )
        if user is not None:
            login(request, user)
            return HttpResponseRedirect("/whoami/")
    return HttpResponse(format_html(FORM, get_token(request)))


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username() or "anonymous", content_type="text/plain")


urlpatterns = [
    path("accounts/login/", login_view),
    path("whoami/", whoami),
]
