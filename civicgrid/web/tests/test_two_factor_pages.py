"""Logging in through the pages: the lockout answer, the code step for staff, enrolling an
authenticator, and the account's security page. Real TOTP codes from each device's key."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import translation
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from civicgrid.accounts.models import Role, User
from civicgrid.accounts.services import (
    api_token_issue,
    login_lockout_error,
    totp_device_confirm,
    totp_device_start,
)
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

PASSWORD = "test-pass-2468"
T0 = dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC)
LOGIN = "/accounts/login/"
VERIFY = "/accounts/two-factor/"
SETUP = "/accounts/two-factor/setup/"
SECURITY = "/accounts/security/"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_user(username: str, role: str = Role.OPERATOR, **extra: Any) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead):06d}"


def enrol(user: User) -> tuple[TOTPDevice, list[str]]:
    device = totp_device_start(actor=user, user=user)
    return totp_device_confirm(actor=user, user=user, token=code_for(device))


def log_in(client: Client, username: str, password: str = PASSWORD, next_url: str = "") -> Any:
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


# --------------------------------------------------------------------------- lockout


def test_the_login_page_says_when_a_username_is_locked_out(client: Client) -> None:
    # given
    amy = make_user("amy", Role.RESIDENT)

    # when
    answers = [log_in(client, "amy", "wrong-guess") for _ in range(5)]
    right_password = log_in(client, "amy")

    # then
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert "Please enter a correct username and password" in answers[0].content.decode()
    page = answers[4].content.decode()
    assert "data-lockout" in page
    assert (
        "Too many failed logins for this account from your address. "
        "Wait 15 minutes, then try again."
    ) in page
    assert answers[4]["Retry-After"] == "900"
    assert right_password.status_code == 429
    assert logged_in_user_id(client) is None
    rows = AuditRecord.objects.filter(action="accounts.login_lockout")
    assert [(r.target_id, r.data["path"], r.data["failures"]) for r in rows] == [
        (str(amy.pk), LOGIN, 5)
    ]


def test_the_lockout_message_is_translated(client: Client) -> None:
    # given
    make_user("amy", Role.RESIDENT)

    # when
    for _ in range(4):
        log_in(client, "amy", "wrong-guess")
    answer = client.post(
        LOGIN,
        {"username": "amy", "password": "wrong-guess"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    # then: the page is in the visitor's language, the message from the Chinese catalogue
    with translation.override("zh-hans"):
        expected = login_lockout_error().message
    assert answer.status_code == 429
    assert answer["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in answer.content.decode()
    assert expected in answer.content.decode()


def test_the_admin_login_is_locked_out_too(client: Client) -> None:
    # given
    make_user("root", Role.ADMINISTRATOR, is_staff=True, is_superuser=True)

    # when
    answers = [
        client.post("/admin/login/", {"username": "root", "password": "wrong-guess"})
        for _ in range(5)
    ]

    # then
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert "Too many failed logins" in answers[4].content.decode()
    rows = AuditRecord.objects.filter(action="accounts.login_lockout")
    assert [r.data["path"] for r in rows] == ["/admin/login/"]


# --------------------------------------------------------------------------- "optional"


def test_optional_staff_without_an_authenticator_log_in_with_the_password(client) -> None:
    # given
    make_user("pat")

    # when
    answer = log_in(client, "pat", next_url="/queue/")

    # then
    assert answer.status_code == 302
    assert answer["Location"] == "/queue/"
    assert client.get("/report/").status_code == 200


def test_optional_staff_with_an_authenticator_pass_a_code(client, frozen) -> None:
    # given
    pat = make_user("pat")
    device, _codes = enrol(pat)
    frozen.shift(30)

    # when: the password step
    answer = log_in(client, "pat", next_url="/queue/")

    # then: on to the code page; nothing else opens meanwhile
    assert answer.status_code == 302
    assert answer["Location"] == f"{VERIFY}?next=%2Fqueue%2F"
    assert logged_in_user_id(client) == str(pat.pk)
    blocked = client.get("/queue/?light=red")
    assert blocked.status_code == 302
    assert blocked["Location"] == f"{VERIFY}?next=%2Fqueue%2F%3Flight%3Dred"
    assert client.get("/api/v1/auth/me").status_code == 401
    admin = client.get("/admin/")
    assert admin.status_code == 302
    assert admin["Location"].startswith(VERIFY)
    page = client.get(f"{VERIFY}?next=/queue/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert 'autocomplete="one-time-code"' in page.content.decode()

    # when: a wrong code, then (after the wait) the right one
    wrong = client.post(VERIFY, {"code": "000000" if code_for(device) != "000000" else "111111"})
    frozen.shift(2)
    session_before = client.session.session_key
    right = client.post(VERIFY, {"code": code_for(device), "next": "/queue/"})

    # then
    assert wrong.status_code == 400
    assert "That code is not correct." in wrong.content.decode()
    assert right.status_code == 302
    assert right["Location"] == "/queue/"
    assert client.session.session_key != session_before
    assert client.get("/report/").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 200
    failed = AuditRecord.objects.filter(action="accounts.two_factor_failed").get()
    assert failed.data == {"stage": "login", "device": "totp", "throttled": False}


def test_a_backup_code_passes_the_code_step(client, frozen) -> None:
    # given
    pat = make_user("pat")
    _device, codes = enrol(pat)
    log_in(client, "pat")

    # when
    answer = client.post(VERIFY, {"code": codes[0]})

    # then
    assert answer.status_code == 302
    assert answer["Location"] == "/"
    assert client.get("/report/").status_code == 200


def test_an_htmx_request_of_an_unverified_session_is_sent_by_hx_redirect(client, frozen) -> None:
    # given
    pat = make_user("pat")
    enrol(pat)
    log_in(client, "pat")

    # when
    answer = client.get("/report/questions/?category=x", HTTP_HX_REQUEST="true")

    # then
    assert answer.status_code == 200
    assert answer["HX-Redirect"].startswith(f"{VERIFY}?next=")


def test_the_code_step_refuses_an_outside_next(client, frozen) -> None:
    # given
    pat = make_user("pat")
    device, _codes = enrol(pat)
    frozen.shift(30)
    log_in(client, "pat")

    # when
    answer = client.post(VERIFY, {"code": code_for(device), "next": "https://evil.example/"})

    # then
    assert answer.status_code == 302
    assert answer["Location"] == "/"


def test_a_verified_session_skips_the_code_page(client, frozen) -> None:
    # given
    make_user("pat")
    log_in(client, "pat")

    # when: nothing owed ("optional", no authenticator)
    answer = client.get(f"{VERIFY}?next=/queue/")

    # then
    assert answer.status_code == 302
    assert answer["Location"] == "/queue/"


# --------------------------------------------------------------------------- "required"


def test_required_staff_without_an_authenticator_enrol_at_login(client, settings, frozen) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    pat = make_user("pat")

    # when: the password
    answer = log_in(client, "pat", next_url="/queue/")

    # then: the set-up page, with the secret as text and as an inline SVG QR code
    assert answer.status_code == 302
    assert answer["Location"] == f"{SETUP}?next=%2Fqueue%2F"
    assert client.get("/queue/")["Location"] == f"{SETUP}?next=%2Fqueue%2F"
    page = client.get(answer["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    device = TOTPDevice.objects.get(user=pat)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html)
    assert secret is not None
    assert len(secret.group(1)) == 32
    assert '<svg width="' in html
    assert "<img" not in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]

    # when: a code made from the secret shown
    confirm = client.post(SETUP, {"code": code_for(device), "next": "/queue/"})

    # then: the backup codes, once; the session is verified
    assert confirm.status_code == 200
    assert "no-store" in confirm["Cache-Control"]
    shown = re.findall(r"<code data-backup-code>([a-z2-7]{8})</code>", confirm.content.decode())
    assert len(shown) == 10
    assert sorted(shown) == sorted(
        StaticDevice.objects.get(user=pat).token_set.values_list("token", flat=True)
    )
    assert 'href="/queue/" data-continue' in confirm.content.decode()
    assert client.get("/report/").status_code == 200
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is True
    enrol_row = AuditRecord.objects.filter(action="accounts.two_factor_enrol").get()
    assert enrol_row.actor_id == pat.pk


def test_a_wrong_enrolment_code_shows_the_same_secret_again(client, settings, frozen) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    pat = make_user("pat")
    log_in(client, "pat")
    first = client.get(SETUP).content.decode()
    device = TOTPDevice.objects.get(user=pat)

    # when
    wrong = client.post(SETUP, {"code": "000000" if code_for(device) != "000000" else "111111"})

    # then
    assert wrong.status_code == 400
    secret = re.search(r'data-secret="([A-Z2-7]+)"', first)
    assert secret is not None
    assert f'data-secret="{secret.group(1)}"' in wrong.content.decode()
    assert TOTPDevice.objects.filter(user=pat).count() == 1
    assert TOTPDevice.objects.get(user=pat).confirmed is False
    assert client.get("/queue/").status_code == 302


def test_required_does_not_concern_residents(client, settings) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    make_user("rita", Role.RESIDENT)

    # when
    answer = log_in(client, "rita", next_url="/my/")

    # then
    assert answer["Location"] == "/my/"
    assert client.get("/my/").status_code == 200
    assert client.get(SECURITY).status_code == 404
    assert client.get(SETUP).status_code == 404
    assert TOTPDevice.objects.count() == 0


def test_an_unverified_staff_member_cannot_enrol_over_an_existing_device(
    client, settings, frozen
) -> None:
    # given: a password thief, the account already has an authenticator
    settings.CIVICGRID_STAFF_2FA = "required"
    pat = make_user("pat")
    enrol(pat)
    log_in(client, "pat")

    # when
    answer = client.get(SETUP)
    posted = client.post(SETUP, {"code": "123456"})

    # then
    assert answer.status_code == 302
    assert answer["Location"].startswith(VERIFY)
    assert posted.status_code == 302
    assert TOTPDevice.objects.filter(user=pat).count() == 1


def test_bearer_tokens_are_not_asked_for_a_code(client, settings) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    pat = make_user("pat")
    _token, raw = api_token_issue(actor=None, user=pat, name="field app")

    # when
    answer = client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")

    # then
    assert answer.status_code == 200
    assert answer.json()["username"] == "pat"


def test_a_verified_session_loses_access_when_the_device_goes(client, settings, frozen) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    pat = make_user("pat")
    device, _codes = enrol(pat)
    frozen.shift(30)
    log_in(client, "pat")
    client.post(VERIFY, {"code": code_for(device)})
    assert client.get("/report/").status_code == 200

    # when: an administrator removes the device (a lost phone)
    TOTPDevice.objects.filter(user=pat).delete()

    # then
    assert client.get("/queue/")["Location"] == f"{SETUP}?next=%2Fqueue%2F"


# --------------------------------------------------------------------------- account page


def test_the_account_page_enrols_and_removes(client, frozen) -> None:
    # given: "optional", no authenticator yet
    pat = make_user("pat")
    client.force_login(pat)

    # when
    before = client.get(SECURITY)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=pat)
    client.post(SETUP, {"code": code_for(device)})
    enrolled = client.get(SECURITY)
    frozen.shift(30)
    wrong = client.post(f"{SECURITY}remove/", {"code": "abcdefgh"})
    frozen.shift(2)
    removed = client.post(f"{SECURITY}remove/", {"code": code_for(device)})
    after = client.get(SECURITY)

    # then
    assert 'data-two-factor-state="none"' in before.content.decode()
    assert 'data-two-factor-state="on"' in enrolled.content.decode()
    assert "10 backup codes left." in enrolled.content.decode()
    assert wrong.status_code == 400
    assert removed.status_code == 302
    assert removed["Location"] == SECURITY
    assert 'data-two-factor-state="none"' in after.content.decode()
    assert "Your authenticator app and backup codes are removed." in after.content.decode()
    assert TOTPDevice.objects.filter(user=pat).count() == 0
    assert [r.action for r in AuditRecord.objects.order_by("pk")] == [
        "accounts.two_factor_enrol",
        "accounts.two_factor_failed",
        "accounts.two_factor_remove",
    ]


def test_the_header_links_staff_to_their_account_page(client) -> None:
    # given
    client.force_login(make_user("pat"))

    # when
    page = client.get("/").content.decode()

    # then
    assert f'<a class="who hlink" href="{SECURITY}"' in page


def test_with_two_factor_off_the_pages_say_so_or_do_not_exist(client, settings) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "off"
    client.force_login(make_user("pat"))

    # when / then
    assert 'data-two-factor-state="off"' in client.get(SECURITY).content.decode()
    assert client.get(SETUP).status_code == 404
    assert client.get(VERIFY).status_code == 404
    assert client.post(f"{SECURITY}remove/", {"code": "123456"}).status_code == 404


def test_the_anonymous_are_sent_to_log_in(client) -> None:
    for path in (SECURITY, SETUP, VERIFY):
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer["Location"] == f"{LOGIN}?next={path}"
