"""Staff second factor: the services, with real TOTP codes made from each device's key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from civicgrid.accounts.errors import AccountError
from civicgrid.accounts.models import ApiToken, Role, User
from civicgrid.accounts.services import (
    totp_device_confirm,
    totp_device_start,
    two_factor_remove,
    two_factor_required,
    two_factor_status,
    two_factor_verify,
)
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

PASSWORD = "test-pass-2468"
# Far from a 30-second step boundary: codes made "now" and checked "now" are the same step.
T0 = dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC)


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_user(username: str, role: str = Role.OPERATOR, **extra: Any) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The device's code now (or ``steps_ahead`` 30-second steps later), as the phone shows it."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead)
    return f"{value:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = code_for(device)
    return "000000" if right != "000000" else "111111"


def enrolled(user: User) -> tuple[TOTPDevice, list[str]]:
    device = totp_device_start(actor=user, user=user)
    return totp_device_confirm(actor=user, user=user, token=code_for(device))


def audit_actions() -> list[tuple[str, dict[str, Any]]]:
    return [(r.action, r.data) for r in AuditRecord.objects.order_by("pk")]


# --------------------------------------------------------------------------- who must pass a code


@pytest.mark.parametrize(
    ("mode", "role", "has_device", "expected"),
    [
        ("required", Role.OPERATOR, False, True),
        ("required", Role.ADMINISTRATOR, True, True),
        ("required", Role.RESIDENT, False, False),
        ("optional", Role.OPERATOR, False, False),
        ("optional", Role.OPERATOR, True, True),
        ("optional", Role.RESIDENT, False, False),
        ("off", Role.OPERATOR, True, False),
        ("off", Role.ADMINISTRATOR, False, False),
    ],
)
def test_who_must_pass_a_code(settings, frozen, mode, role, has_device, expected) -> None:
    # given
    user = make_user("pat", role)
    if has_device:
        TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    settings.CIVICGRID_STAFF_2FA = mode

    # when / then
    assert two_factor_required(user=user) is expected


def test_a_resident_who_may_enter_the_admin_counts_as_staff(settings) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    user = make_user("root", Role.RESIDENT, is_staff=True)

    # when / then
    assert two_factor_required(user=user) is True


def test_an_unconfirmed_device_does_not_make_a_code_necessary(settings) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "optional"
    user = make_user("pat")
    totp_device_start(actor=user, user=user)

    # when / then
    assert two_factor_required(user=user) is False


# --------------------------------------------------------------------------- enrolling


def test_start_makes_one_unconfirmed_device_and_reuses_it(frozen) -> None:
    # given
    user = make_user("pat")

    # when
    first = totp_device_start(actor=user, user=user)
    second = totp_device_start(actor=user, user=user)

    # then
    assert first.pk == second.pk
    assert first.key == second.key
    assert len(first.key) == 40  # 20 random bytes, hex
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert first.confirmed is False
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize("who", ["resident", "someone_else", "off"])
def test_start_is_refused_outside_ones_own_staff_account(settings, who) -> None:
    # given
    pat = make_user("pat")
    target, actor = pat, pat
    if who == "resident":
        target = actor = make_user("rita", Role.RESIDENT)
    elif who == "someone_else":
        actor = make_user("root", Role.ADMINISTRATOR)
    else:
        settings.CIVICGRID_STAFF_2FA = "off"

    # when
    with pytest.raises(AccountError) as refused:
        totp_device_start(actor=actor, user=target)

    # then
    assert refused.value.http_status == 403
    assert TOTPDevice.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_confirming_with_the_current_code_enrols_and_makes_backup_codes(frozen) -> None:
    # given
    user = make_user("pat")
    device = totp_device_start(actor=user, user=user)

    # when
    confirmed, codes = totp_device_confirm(actor=user, user=user, token=code_for(device))

    # then
    assert confirmed.pk == device.pk
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is True
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c) == 8 and c.isalnum() and c == c.lower() for c in codes)
    static = StaticDevice.objects.get(user=user)
    assert static.confirmed is True
    assert sorted(StaticToken.objects.filter(device=static).values_list("token", flat=True)) == (
        sorted(codes)
    )
    assert audit_actions() == [
        ("accounts.two_factor_enrol", {"device": "totp", "backup_codes": 10})
    ]
    record = AuditRecord.objects.get()
    assert (record.actor_id, record.target_id) == (user.pk, str(user.pk))
    assert two_factor_status(user=user)["backup_codes_left"] == 10


def test_a_code_with_spaces_is_accepted(frozen) -> None:
    # given
    user = make_user("pat")
    device = totp_device_start(actor=user, user=user)
    code = code_for(device)

    # when
    totp_device_confirm(actor=user, user=user, token=f" {code[:3]} {code[3:]} ")

    # then
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is True


def test_a_wrong_code_does_not_enrol_and_is_audited_then_throttled(frozen) -> None:
    # given
    user = make_user("pat")
    device = totp_device_start(actor=user, user=user)

    # when: a wrong code, then the right one at once, then the right one 2 seconds later
    with pytest.raises(AccountError) as wrong:
        totp_device_confirm(actor=user, user=user, token=wrong_code(device))
    with pytest.raises(AccountError) as too_soon:
        totp_device_confirm(actor=user, user=user, token=code_for(device))
    unconfirmed = TOTPDevice.objects.get(pk=device.pk).confirmed
    frozen.shift(2)
    totp_device_confirm(actor=user, user=user, token=code_for(device))

    # then
    assert (wrong.value.code, wrong.value.http_status, wrong.value.field) == (
        "accounts.bad_credentials",
        400,
        "code",
    )
    assert (too_soon.value.code, too_soon.value.http_status) == ("accounts.rate_limited", 429)
    assert too_soon.value.details == {"retry_after": 1}
    assert unconfirmed is False
    assert audit_actions() == [
        ("accounts.two_factor_failed", {"stage": "enrol", "device": "totp", "throttled": False}),
        ("accounts.two_factor_failed", {"stage": "enrol", "device": "totp", "throttled": True}),
        ("accounts.two_factor_enrol", {"device": "totp", "backup_codes": 10}),
    ]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Enter the code from your authenticator app."),
        ("12345", "The code from the app has 6 digits."),
        ("12345a", "The code from the app has 6 digits."),
        ("1" * 17, "A code is 6 digits, or a backup code of 8 letters and digits."),
    ],
)
def test_a_malformed_code_is_refused_without_counting(frozen, token, message) -> None:
    # given
    user = make_user("pat")
    device = totp_device_start(actor=user, user=user)

    # when
    with pytest.raises(AccountError) as refused:
        totp_device_confirm(actor=user, user=user, token=token)

    # then
    assert (refused.value.http_status, refused.value.message) == (400, message)
    stored = TOTPDevice.objects.get(pk=device.pk)
    assert (stored.confirmed, stored.throttling_failure_count) == (False, 0)
    assert AuditRecord.objects.count() == 0


def test_confirming_without_starting_is_refused(frozen) -> None:
    # given
    user = make_user("pat")

    # when
    with pytest.raises(AccountError) as refused:
        totp_device_confirm(actor=user, user=user, token="123456")

    # then
    assert refused.value.http_status == 400
    assert TOTPDevice.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_a_second_authenticator_is_refused(frozen) -> None:
    # given
    user = make_user("pat")
    enrolled(user)
    before = audit_actions()

    # when
    with pytest.raises(AccountError) as refused:
        totp_device_start(actor=user, user=user)

    # then
    assert refused.value.http_status == 409
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert audit_actions() == before


# --------------------------------------------------------------------------- logging in


def test_the_next_code_verifies_and_a_replayed_code_does_not(frozen) -> None:
    # given: enrolled with this step's code
    user = make_user("pat")
    device, _codes = enrolled(user)
    frozen.shift(30)
    code = code_for(device)

    # when
    verified = two_factor_verify(user=user, token=code)
    frozen.shift(3)
    with pytest.raises(AccountError) as replayed:
        two_factor_verify(user=user, token=code)

    # then
    assert verified.pk == device.pk
    assert replayed.value.code == "accounts.bad_credentials"
    assert audit_actions()[-1] == (
        "accounts.two_factor_failed",
        {"stage": "login", "device": "totp", "throttled": False},
    )


def test_a_code_one_step_old_or_ahead_is_accepted_two_is_not(frozen) -> None:
    # given
    user = make_user("pat")
    device, _codes = enrolled(user)
    frozen.shift(120)

    # when
    with pytest.raises(AccountError):
        two_factor_verify(user=user, token=code_for(device, steps_ahead=2))
    frozen.shift(2)
    ahead = two_factor_verify(user=user, token=code_for(device, steps_ahead=1))

    # then
    assert ahead.pk == device.pk


def test_a_backup_code_works_once(frozen) -> None:
    # given
    user = make_user("pat")
    _device, codes = enrolled(user)

    # when
    used = two_factor_verify(user=user, token=codes[3].upper())
    with pytest.raises(AccountError) as again:
        two_factor_verify(user=user, token=codes[3])

    # then
    assert isinstance(used, StaticDevice)
    assert again.value.code == "accounts.bad_credentials"
    assert two_factor_status(user=user)["backup_codes_left"] == 9
    assert audit_actions()[-1] == (
        "accounts.two_factor_failed",
        {"stage": "login", "device": "backup", "throttled": False},
    )


def test_verifying_without_an_authenticator_is_refused(frozen) -> None:
    # given
    user = make_user("pat")

    # when
    with pytest.raises(AccountError) as refused:
        two_factor_verify(user=user, token="123456")

    # then
    assert (refused.value.http_status, refused.value.message) == (
        400,
        "This account has no authenticator.",
    )
    assert AuditRecord.objects.count() == 0


def test_wrong_codes_wait_longer_each_time(frozen) -> None:
    # given
    user = make_user("pat")
    device, _codes = enrolled(user)
    frozen.shift(30)

    # when: three wrong codes, each after the wait the previous one set (1 s, then 2 s)
    for wait in (0, 1, 2):
        frozen.shift(wait)
        with pytest.raises(AccountError) as wrong:
            two_factor_verify(user=user, token=wrong_code(device))
        assert wrong.value.code == "accounts.bad_credentials"
    with pytest.raises(AccountError) as throttled:
        two_factor_verify(user=user, token=code_for(device))
    frozen.shift(4)
    passed = two_factor_verify(user=user, token=code_for(device))

    # then
    assert throttled.value.details == {"retry_after": 4}
    assert "Wait 4 seconds" in throttled.value.message
    assert passed.pk == device.pk
    assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == 0


# --------------------------------------------------------------------------- removing


def test_removing_ones_own_needs_a_current_code(frozen) -> None:
    # given
    user = make_user("pat")
    device, _codes = enrolled(user)
    frozen.shift(30)

    # when: without a code, with a wrong one, then with the right one
    with pytest.raises(AccountError) as missing:
        two_factor_remove(actor=user, user=user, token="")
    frozen.shift(2)
    with pytest.raises(AccountError) as wrong:
        two_factor_remove(actor=user, user=user, token=wrong_code(device))
    kept = (
        TOTPDevice.objects.filter(user=user).count(),
        StaticDevice.objects.filter(user=user).count(),
    )
    frozen.shift(2)
    removed = two_factor_remove(actor=user, user=user, token=code_for(device))

    # then
    assert missing.value.http_status == 400
    assert wrong.value.code == "accounts.bad_credentials"
    assert kept == (1, 1)
    assert removed == 12  # the authenticator, the backup device and its 10 codes
    assert TOTPDevice.objects.filter(user=user).count() == 0
    assert StaticDevice.objects.filter(user=user).count() == 0
    assert [a for a, _d in audit_actions()] == [
        "accounts.two_factor_enrol",
        "accounts.two_factor_failed",
        "accounts.two_factor_remove",
    ]
    assert audit_actions()[-1][1] == {"user": "pat", "by_self": True}


def test_an_administrator_removes_a_lost_phone_without_a_code(frozen) -> None:
    # given
    user = make_user("pat")
    enrolled(user)
    root = make_user("root", Role.ADMINISTRATOR)

    # when
    two_factor_remove(actor=root, user=user)

    # then
    assert TOTPDevice.objects.filter(user=user).count() == 0
    record = AuditRecord.objects.order_by("-pk").first()
    assert record is not None
    assert (record.action, record.actor_id, record.data) == (
        "accounts.two_factor_remove",
        root.pk,
        {"user": "pat", "by_self": False},
    )


def test_another_staff_member_may_not_remove_it(frozen) -> None:
    # given
    user = make_user("pat")
    enrolled(user)
    colleague = make_user("sam", Role.SUPERVISOR)
    before = audit_actions()

    # when
    with pytest.raises(AccountError) as refused:
        two_factor_remove(actor=colleague, user=user)

    # then
    assert refused.value.http_status == 403
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert audit_actions() == before


def test_removing_nothing_is_a_conflict() -> None:
    # given
    user = make_user("pat")

    # when
    with pytest.raises(AccountError) as refused:
        two_factor_remove(actor=None, user=user)

    # then
    assert refused.value.http_status == 409
    assert AuditRecord.objects.count() == 0


def test_the_reset_command_removes_the_devices(frozen) -> None:
    # given
    user = make_user("pat")
    enrolled(user)

    # when
    call_command("two_factor_reset", "pat")
    with pytest.raises(CommandError, match="no authenticator to remove"):
        call_command("two_factor_reset", "pat")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("two_factor_reset", "nobody")

    # then
    assert TOTPDevice.objects.filter(user=user).count() == 0
    assert audit_actions()[-1] == ("accounts.two_factor_remove", {"user": "pat", "by_self": False})


# --------------------------------------------------------------------------- API tokens


@pytest.fixture
def api_client() -> Iterator[Client]:
    cache.clear()  # the endpoint's per-address rate limit
    yield Client()
    cache.clear()


def ask_token(client: Client, username: str, **extra: str) -> Any:
    return client.post(
        "/api/v1/auth/token",
        {"username": username, "password": PASSWORD, **extra},
        content_type="application/json",
    )


def test_staff_who_owe_a_code_get_a_token_only_with_it(settings, frozen, api_client) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    user = make_user("pat")
    device, _codes = enrolled(user)
    frozen.shift(30)

    # when
    without = ask_token(api_client, "pat")
    wrong = ask_token(api_client, "pat", code=wrong_code(device))
    frozen.shift(2)
    right = ask_token(api_client, "pat", code=code_for(device))

    # then
    assert without.status_code == 401
    assert without.json()["error"]["code"] == "accounts.two_factor_required"
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "accounts.bad_credentials"
    assert right.status_code == 201
    assert ApiToken.objects.filter(user=user).count() == 1
    failed = AuditRecord.objects.filter(action="accounts.two_factor_failed").get()
    assert failed.data == {"stage": "token", "device": "totp", "throttled": False}
    # and the token works without a code
    me = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {right.json()['token']}")
    assert me.status_code == 200
    assert me.json()["username"] == "pat"


def test_staff_without_an_authenticator_get_no_token_when_required(settings, api_client) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "required"
    make_user("pat")

    # when
    answer = ask_token(api_client, "pat", code="123456")

    # then
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "accounts.two_factor_required"
    assert ApiToken.objects.count() == 0


def test_residents_and_optional_staff_without_a_device_need_no_code(settings, api_client) -> None:
    # given
    settings.CIVICGRID_STAFF_2FA = "optional"
    make_user("pat")
    make_user("rita", Role.RESIDENT)

    # when / then
    assert ask_token(api_client, "pat").status_code == 201
    assert ask_token(api_client, "rita").status_code == 201
