"""Login throttling (django-axes) on the token endpoint, the client address behind proxies,
and the audit of each lockout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone

from civicgrid.accounts.lockout import client_ip, ip_network
from civicgrid.accounts.models import ApiToken, Role, User
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

PASSWORD = "test-pass-2468"
TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    # The endpoint's per-address rate limit (20/min) lives in the process's cache.
    cache.clear()
    yield
    cache.clear()


def make_user(username: str, role: str = Role.RESIDENT) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role)


def ask_token(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        content_type="application/json",
        **extra,
    )


def lockout_rows() -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action="accounts.login_lockout").order_by("pk"))


# --------------------------------------------------------------------------- the token endpoint


def test_the_fifth_wrong_password_locks_the_username_from_that_address(client: Client) -> None:
    # given
    amy = make_user("amy")

    # when
    answers = [ask_token(client, "amy", "wrong-guess") for _ in range(5)]

    # then: four plain refusals, then the lockout in the API's error shape
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[0].json()["error"]["code"] == "accounts.bad_credentials"
    locked = answers[4]
    assert locked.json() == {
        "error": {
            "code": "accounts.locked_out",
            "message": "Too many failed logins for this account from your address. "
            "Wait 15 minutes, then try again.",
            "details": {"retry_after": 900},
        }
    }
    assert locked["Retry-After"] == "900"
    rows = lockout_rows()
    assert len(rows) == 1
    assert rows[0].actor_id is None
    assert rows[0].actor_label == "anonymous"
    assert (rows[0].target_type, rows[0].target_id) == ("accounts.user", str(amy.pk))
    assert rows[0].data == {
        "username": "amy",
        "network": "127.0.0.0/24",
        "failures": 5,
        "cool_off_minutes": 15,
        "path": TOKEN_URL,
    }
    assert ApiToken.objects.count() == 0


def test_the_right_password_is_refused_while_locked_and_not_audited_again(client: Client) -> None:
    # given
    make_user("amy")
    for _ in range(5):
        ask_token(client, "amy", "wrong-guess")

    # when
    answer = ask_token(client, "amy", PASSWORD)

    # then
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "accounts.locked_out"
    assert ApiToken.objects.count() == 0
    assert len(lockout_rows()) == 1


def test_the_same_username_from_another_address_is_not_locked(client: Client) -> None:
    # given: amy locked out from 127.0.0.1
    make_user("amy")
    for _ in range(5):
        ask_token(client, "amy", "wrong-guess")

    # when: amy herself, from her office
    answer = ask_token(client, "amy", PASSWORD, REMOTE_ADDR="10.1.2.3")

    # then
    assert answer.status_code == 201
    assert ApiToken.objects.filter(user__username="amy").count() == 1


def test_another_username_from_the_same_address_is_not_locked(client: Client) -> None:
    # given
    make_user("amy")
    make_user("bob")
    for _ in range(5):
        ask_token(client, "amy", "wrong-guess")

    # when
    answer = ask_token(client, "bob", PASSWORD)

    # then
    assert answer.status_code == 201


def test_the_lockout_ends_after_the_cool_off(client: Client) -> None:
    # given
    make_user("amy")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            ask_token(client, "amy", "wrong-guess")

    # when: 14 minutes later still locked; 16 minutes later the password works again
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        early = ask_token(client, "amy", PASSWORD)
    with time_machine.travel(start + dt.timedelta(minutes=30), tick=False):
        later = ask_token(client, "amy", PASSWORD)

    # then: the early try restarted the cool-off, so the later one waits from there
    assert early.status_code == 429
    assert later.status_code == 201


def test_a_success_resets_the_count(client: Client) -> None:
    # given: four failures
    make_user("amy")
    for _ in range(4):
        ask_token(client, "amy", "wrong-guess")

    # when: a success, then four more failures
    assert ask_token(client, "amy", PASSWORD).status_code == 201
    after = [ask_token(client, "amy", "wrong-guess").status_code for _ in range(4)]

    # then: not locked (the count started again)
    assert after == [401, 401, 401, 401]
    assert lockout_rows() == []


def test_unknown_usernames_are_locked_out_alike(client: Client) -> None:
    # given: no user "ghost" (the answer must not tell whether an account exists)

    # when
    answers = [ask_token(client, "ghost", "wrong-guess").status_code for _ in range(5)]

    # then
    assert answers == [401, 401, 401, 401, 429]
    rows = lockout_rows()
    assert len(rows) == 1
    assert (rows[0].target_type, rows[0].target_id) == ("", "")
    assert rows[0].data["username"] == "ghost"


def test_lockouts_can_be_turned_off(client: Client, settings: Any) -> None:
    # given
    settings.AXES_ENABLED = False
    make_user("amy")

    # when
    answers = [ask_token(client, "amy", "wrong-guess").status_code for _ in range(7)]

    # then
    assert answers == [401] * 7
    assert ask_token(client, "amy", PASSWORD).status_code == 201
    assert AccessAttempt.objects.count() == 0
    assert lockout_rows() == []


def test_the_limit_and_cool_off_come_from_settings(client: Client, settings: Any) -> None:
    # given
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=1)
    make_user("amy")

    # when
    answers = [ask_token(client, "amy", "wrong-guess") for _ in range(2)]

    # then
    assert [a.status_code for a in answers] == [401, 429]
    assert answers[1].json()["error"]["message"] == (
        "Too many failed logins for this account from your address. Wait 1 minute, then try again."
    )
    assert answers[1].json()["error"]["details"] == {"retry_after": 60}
    assert lockout_rows()[0].data["cool_off_minutes"] == 1


# --------------------------------------------------------------------------- client address


def test_without_trusted_proxies_the_socket_address_counts(settings: Any) -> None:
    # given
    settings.CIVICGRID_TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().post(
        "/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )

    # when / then: the header is the client's own word and is ignored
    assert client_ip(request) == "192.0.2.7"


def test_behind_one_proxy_its_appended_entry_counts(settings: Any) -> None:
    # given: the client sent a forged entry; nginx appended the real peer
    settings.CIVICGRID_TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().post(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20"
    )

    # when / then
    assert client_ip(request) == "198.51.100.20"


def test_a_missing_or_malformed_forwarded_entry_falls_back_to_the_socket(settings: Any) -> None:
    # given
    settings.CIVICGRID_TRUSTED_PROXY_COUNT = 2
    short = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    bad = RequestFactory().post(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip, 10.0.0.1"
    )

    # when / then
    assert client_ip(short) == "127.0.0.1"
    assert client_ip(bad) == "127.0.0.1"


def test_behind_a_proxy_addresses_are_told_apart(client: Client, settings: Any) -> None:
    # given: all requests come from the proxy at 127.0.0.1
    settings.CIVICGRID_TRUSTED_PROXY_COUNT = 1
    make_user("amy")
    for _ in range(5):
        ask_token(client, "amy", "wrong-guess", HTTP_X_FORWARDED_FOR="203.0.113.9")

    # when
    attacker = ask_token(client, "amy", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9")
    amy = ask_token(client, "amy", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.20")

    # then
    assert attacker.status_code == 429
    assert amy.status_code == 201
    assert lockout_rows()[0].data["network"] == "203.0.113.0/24"


def test_audit_rows_keep_the_network_not_the_address() -> None:
    assert ip_network("203.0.113.9") == "203.0.113.0/24"
    assert ip_network("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert ip_network("") == ""
    assert ip_network(None) == ""
    assert ip_network("999.1.1.1") == ""
