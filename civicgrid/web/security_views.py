"""Pages of logging in: the password step (with the lockout answer), the second factor for
staff, enrolling an authenticator app, and the account's security page. docs/security.md
describes the flow; the rules are in civicgrid.accounts.services."""

from __future__ import annotations

import base64
from typing import Any, cast
from urllib.parse import urlencode

import django_otp
import qrcode
import qrcode.image.svg
from axes.helpers import get_client_username
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicgrid.accounts.errors import AccountError
from civicgrid.accounts.lockout import WAS_LOCKED_ATTR
from civicgrid.accounts.models import User
from civicgrid.accounts.services import (
    TWO_FACTOR_OFF,
    login_lockout_error,
    login_lockout_record,
    totp_device_confirm,
    totp_device_start,
    two_factor_applies_to,
    two_factor_mode,
    two_factor_remove,
    two_factor_required,
    two_factor_status,
    two_factor_verify,
)

LOGIN_TEMPLATE = "web/login.html"


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=16,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "off",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
        help_text=gettext_lazy(
            "The 6 digits your authenticator app shows now, or one of your backup codes."
        ),
    )


class EnrolCodeForm(CodeForm):
    """The code that confirms a new authenticator: only the app's, there are no backup codes
    yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = gettext_lazy("The 6 digits your app shows now.")


def _no_store(response: HttpResponse) -> HttpResponse:
    # These pages hold a secret or a one-time code: no cache (browser or proxy) may keep them.
    response["Cache-Control"] = "no-store"
    return response


def _safe_next(request: HttpRequest, fallback: str = "") -> str:
    """``next`` from the form or the query string when it points into this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback or reverse(settings.LOGIN_REDIRECT_URL)


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def second_factor_url(user: User, next_url: str) -> str:
    """Where a session that owes its second factor goes: the code page, or the set-up page
    when the account has no authenticator yet (two-factor "required")."""
    if two_factor_status(user=user)["device"] is not None:
        return _with_next("web:two_factor_verify", next_url)
    return _with_next("web:two_factor_setup", next_url)


def _owes_second_factor(request: HttpRequest, user: User) -> bool:
    return not request.user.is_verified() and two_factor_required(user=user)  # type: ignore[union-attr]  # OTPMiddleware


# --------------------------------------------------------------------------- password step


class LoginView(auth_views.LoginView):
    """Django's login page, plus two things: staff who owe a second factor go on to the code
    (or set-up) page instead of ``next``, and a locked-out username+address is told so with
    429 and the wait (django-axes counts the failures; see docs/security.md)."""

    template_name = LOGIN_TEMPLATE
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)  # logs in (a new session key) and redirects
        user = cast(User, form.get_user())
        if two_factor_required(user=user):
            return redirect(second_factor_url(user, self.get_success_url()))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if getattr(self.request, "axes_locked_out", False):
            return _locked_out_page(self.request, form)
        return super().form_invalid(form)


def _locked_out_page(request: HttpRequest, form: AuthenticationForm | None = None) -> HttpResponse:
    error = login_lockout_error()
    response = render(
        request,
        LOGIN_TEMPLATE,
        {
            "form": form or AuthenticationForm(request),
            "lockout_message": error.message,
            "next": _safe_next(request),
        },
        status=error.http_status,
    )
    response["Retry-After"] = str(error.details["retry_after"])
    return response


def login_lockout(
    request: HttpRequest,
    original_response: HttpResponseBase | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponseBase:
    """django-axes' ``AXES_LOCKOUT_CALLABLE``: the answer to every request in which it refused
    or locked out a username+address pair, whichever login it came through.

    Audits the attempt that started the lockout (not those refused while it lasts), then keeps
    the view's own answer when it already said "locked out" with 429 (the login page, the
    token endpoint), and otherwise (the admin's login form) answers with the login page and
    the lockout message.
    """
    if not getattr(request, WAS_LOCKED_ATTR, False):
        login_lockout_record(
            username=get_client_username(request, credentials) or "",
            ip_address=getattr(request, "axes_ip_address", None),
            failures=getattr(request, "axes_failures_since_start", None),
            path=request.path,
        )
    if original_response is not None and original_response.status_code == 429:
        if not original_response.has_header("Retry-After"):
            retry_after = login_lockout_error().details["retry_after"]
            original_response["Retry-After"] = str(retry_after)
        return original_response
    return _locked_out_page(request)


# --------------------------------------------------------------------------- second factor


def _staff_page_user(request: HttpRequest, *, when_off: bool = False) -> User | HttpResponse:
    """The logged-in staff user of a two-factor page, or the answer instead: the login page
    for the anonymous, 404 for residents, and 404 when two-factor is "off" unless the page
    also serves then (``when_off``: the account page, which says so)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = cast(User, request.user)
    if not two_factor_applies_to(user):
        raise Http404(_("Page not found."))
    if two_factor_mode() == TWO_FACTOR_OFF and not when_off:
        raise Http404(_("Page not found."))
    return user


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify_view(request: HttpRequest) -> HttpResponse:
    """The second step of logging in: the authenticator's code (or a backup code). A session
    that owes nothing goes straight on to ``next``."""
    found = _staff_page_user(request)
    if isinstance(found, HttpResponse):
        return found
    user = found
    next_url = _safe_next(request)
    if not _owes_second_factor(request, user):
        return redirect(next_url)
    if two_factor_status(user=user)["device"] is None:
        return redirect(_with_next("web:two_factor_setup", next_url))
    status = 200
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                device = two_factor_verify(user=user, token=form.cleaned_data["code"])
            except AccountError as error:
                form.add_error("code", error.message)
                status = error.http_status
            else:
                django_otp.login(request, device)
                request.session.cycle_key()  # a new key for the stronger session
                return redirect(next_url)
    context = {"form": form, "next": next_url}
    return _no_store(render(request, "web/two_factor_verify.html", context, status=status))


def qr_svg(data: str) -> SafeString:
    """``data`` as an inline SVG QR code: no image request, no script, no inline style, so the
    page's Content-Security-Policy allows it as it is."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        box_size=10,
        border=4,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    svg = image.to_string(encoding="unicode")
    return mark_safe(svg)  # noqa: S308  # made here by qrcode from our own otpauth URL


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: the secret as text and as a QR code, then a code to confirm.
    After confirming, the backup codes are shown once and the session counts as verified."""
    found = _staff_page_user(request)
    if isinstance(found, HttpResponse):
        return found
    user = found
    next_url = _safe_next(request, reverse("web:account_security"))
    if two_factor_status(user=user)["device"] is not None:
        if _owes_second_factor(request, user):
            return redirect(_with_next("web:two_factor_verify", next_url))
        messages.info(request, _("This account already has an authenticator."))
        return redirect("web:account_security")
    status = 200
    form = EnrolCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                device, codes = totp_device_confirm(
                    actor=user, user=user, token=form.cleaned_data["code"]
                )
            except AccountError as error:
                form.add_error("code", error.message)
                status = error.http_status
            else:
                django_otp.login(request, device)
                request.session.cycle_key()
                shown = {"backup_codes": codes, "next": next_url}
                return _no_store(render(request, "web/two_factor_backup_codes.html", shown))
    device = totp_device_start(actor=user, user=user)
    secret = base64.b32encode(device.bin_key).decode("ascii")
    context: dict[str, Any] = {
        "form": form,
        "next": next_url,
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": qr_svg(device.config_url),
        "issuer": settings.OTP_TOTP_ISSUER,
        "required": two_factor_required(user=user),
    }
    return _no_store(render(request, "web/two_factor_setup.html", context, status=status))


@require_GET
def account_security(request: HttpRequest) -> HttpResponse:
    """The account's security page: whether an authenticator is enrolled, backup codes left,
    and the forms to enrol or remove one."""
    found = _staff_page_user(request, when_off=True)
    if isinstance(found, HttpResponse):
        return found
    user = found
    context = {
        **two_factor_status(user=user),
        "mode": two_factor_mode(),
        "form": CodeForm(),
    }
    return _no_store(render(request, "web/account_security.html", context))


@sensitive_post_parameters("code")
@require_POST
def two_factor_remove_view(request: HttpRequest) -> HttpResponse:
    """Remove one's own authenticator with a current code (or backup code)."""
    found = _staff_page_user(request)
    if isinstance(found, HttpResponse):
        return found
    user = found
    form = CodeForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            two_factor_remove(actor=user, user=user, token=form.cleaned_data["code"])
        except AccountError as error:
            form.add_error("code", error.message)
            status = error.http_status
        else:
            messages.success(request, _("Your authenticator app and backup codes are removed."))
            return redirect("web:account_security")
    context = {**two_factor_status(user=user), "mode": two_factor_mode(), "form": form}
    return _no_store(render(request, "web/account_security.html", context, status=status))
