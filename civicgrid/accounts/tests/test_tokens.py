"""API tokens: the services, the command, and authentication over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from civicgrid.accounts.errors import AccountError
from civicgrid.accounts.models import ApiToken, Role, User
from civicgrid.accounts.services import (
    api_token_authenticate,
    api_token_issue,
    api_token_revoke,
    token_hash,
)
from civicgrid.core.models import AuditRecord

PASSWORD = "test-pass-2468"


def make_user(username: str, role: str = Role.RESIDENT, **extra: Any) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


@pytest.fixture
def http(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server.url}/api/v1", timeout=30) as client:
        yield client


# --------------------------------------------------------------------------- services


@pytest.mark.django_db
def test_issue_stores_only_the_hash_and_a_prefix() -> None:
    # given
    user = make_user("amy")
    audit_count = AuditRecord.objects.count()

    # when
    token, raw = api_token_issue(actor=user, user=user, name="phone app")

    # then
    stored = ApiToken.objects.get()
    assert stored.pk == token.pk
    assert stored.user_id == user.pk
    assert stored.name == "phone app"
    assert stored.prefix == raw[:8]
    assert len(stored.prefix) == 8
    assert stored.key_hash == token_hash(raw)
    assert raw not in (stored.key_hash, stored.name)
    assert len(raw) == 43
    assert stored.revoked_at is None
    assert stored.last_used_at is None
    audit = AuditRecord.objects.order_by("-id").first()
    assert AuditRecord.objects.count() == audit_count + 1
    assert audit is not None
    assert audit.action == "accounts.token_issue"
    assert audit.data == {"user": "amy", "name": "phone app", "prefix": raw[:8]}


@pytest.mark.django_db
def test_issue_for_someone_else_is_refused_unless_administrator() -> None:
    # given
    amy = make_user("amy")
    bob = make_user("bob")
    admin = make_user("root", Role.ADMINISTRATOR)
    audit_count = AuditRecord.objects.count()

    # when
    with pytest.raises(AccountError) as refused:
        api_token_issue(actor=bob, user=amy, name="mine now")
    audit_after_refusal = AuditRecord.objects.count()
    token, _ = api_token_issue(actor=admin, user=amy, name="issued by admin")

    # then
    assert refused.value.code == "accounts.forbidden"
    assert refused.value.http_status == 403
    assert audit_after_refusal == audit_count
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["issued by admin"]
    assert token.user_id == amy.pk


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_issue_needs_a_name(name: str) -> None:
    # given
    user = make_user("amy")
    audit_count = AuditRecord.objects.count()

    # when
    with pytest.raises(AccountError) as refused:
        api_token_issue(actor=user, user=user, name=name)

    # then
    assert refused.value.code == "accounts.bad_input"
    assert refused.value.field == "name"
    assert ApiToken.objects.count() == 0
    assert AuditRecord.objects.count() == audit_count


@pytest.mark.django_db
def test_revoke_stops_the_token_and_twice_is_refused() -> None:
    # given
    user = make_user("amy")
    token, raw = api_token_issue(actor=user, user=user, name="app")
    audit_count = AuditRecord.objects.count()

    # when
    revoked = api_token_revoke(actor=user, token=token)
    with pytest.raises(AccountError) as again:
        api_token_revoke(actor=user, token=token)

    # then
    assert revoked.revoked_at is not None
    assert api_token_authenticate(raw_token=raw) is None
    assert again.value.code == "accounts.revoked"
    assert again.value.http_status == 409
    assert AuditRecord.objects.count() == audit_count + 1
    assert AuditRecord.objects.order_by("-id").values_list("action", flat=True)[0] == (
        "accounts.token_revoke"
    )


@pytest.mark.django_db
def test_someone_else_cannot_revoke() -> None:
    # given
    amy = make_user("amy")
    bob = make_user("bob", Role.OPERATOR)
    token, raw = api_token_issue(actor=amy, user=amy, name="app")
    audit_count = AuditRecord.objects.count()

    # when
    with pytest.raises(AccountError) as refused:
        api_token_revoke(actor=bob, token=token)

    # then
    assert refused.value.code == "accounts.forbidden"
    assert ApiToken.objects.get().revoked_at is None
    assert api_token_authenticate(raw_token=raw) is not None
    assert AuditRecord.objects.count() == audit_count


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute() -> None:
    # given
    user = make_user("amy")
    _, raw = api_token_issue(actor=user, user=user, name="app")
    t0 = timezone.now()

    # when
    api_token_authenticate(raw_token=raw, now=t0)
    first = ApiToken.objects.get().last_used_at
    api_token_authenticate(raw_token=raw, now=t0 + dt.timedelta(seconds=59))
    within_a_minute = ApiToken.objects.get().last_used_at
    api_token_authenticate(raw_token=raw, now=t0 + dt.timedelta(seconds=61))
    after_a_minute = ApiToken.objects.get().last_used_at

    # then
    assert first == t0
    assert within_a_minute == t0
    assert after_a_minute == t0 + dt.timedelta(seconds=61)


@pytest.mark.django_db
def test_tokens_of_inactive_users_and_wrong_tokens_do_not_authenticate() -> None:
    # given
    user = make_user("amy")
    _, raw = api_token_issue(actor=user, user=user, name="app")
    User.objects.filter(pk=user.pk).update(is_active=False)

    # when
    results = [
        api_token_authenticate(raw_token=raw),
        api_token_authenticate(raw_token=raw[:-1] + ("A" if raw[-1] != "A" else "B")),
        api_token_authenticate(raw_token=""),
        api_token_authenticate(raw_token="x" * 500),
    ]

    # then
    assert results == [None, None, None, None]


@pytest.mark.django_db
def test_issue_token_command_prints_a_working_token() -> None:
    # given
    user = make_user("amy")
    out, err = io.StringIO(), io.StringIO()

    # when
    call_command("issue_token", "amy", "field app", stdout=out, stderr=err)

    # then
    raw = out.getvalue().strip()
    found = api_token_authenticate(raw_token=raw)
    assert found is not None
    assert found.user == user
    assert found.name == "field app"
    assert f"{raw[:8]}… (field app) issued for amy" in err.getvalue()
    assert AuditRecord.objects.filter(action="accounts.token_issue", actor=None).count() == 1


@pytest.mark.django_db
def test_issue_token_command_refuses_unknown_user() -> None:
    # when
    with pytest.raises(Exception, match="No user 'ghost'"):
        call_command("issue_token", "ghost", "app", stdout=io.StringIO())

    # then
    assert ApiToken.objects.count() == 0


# --------------------------------------------------------------------------- over HTTP


@pytest.mark.django_db(transaction=True)
def test_password_for_token_then_me_then_revoke(http: httpx.Client) -> None:
    # given
    make_user("amy", display_name="Amy")

    # when
    issued = http.post("/auth/token", json={"username": "amy", "password": PASSWORD, "name": "cli"})
    raw = issued.json()["token"]
    bearer = {"Authorization": f"Bearer {raw}"}
    me = http.get("/auth/me", headers=bearer)
    revoked = http.delete("/auth/token", headers=bearer)
    after = http.get("/auth/me", headers=bearer)

    # then
    assert issued.status_code == 201, issued.text
    assert issued.json()["prefix"] == raw[:8]
    assert issued.json()["name"] == "cli"
    assert me.status_code == 200
    assert me.json() == {
        "username": "amy",
        "display_name": "Amy",
        "role": "resident",
        "organization": None,
        "area_code": "",
        "language": "",
        "large_text": False,
    }
    assert revoked.status_code == 200
    assert revoked.json()["prefix"] == raw[:8]
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "unauthenticated"
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.django_db(transaction=True)
def test_wrong_password_gets_no_token(http: httpx.Client) -> None:
    # given
    make_user("amy")
    audit_count = AuditRecord.objects.count()

    # when
    response = http.post("/auth/token", json={"username": "amy", "password": "wrong"})
    missing = http.post("/auth/token", json={"username": "amy"})

    # then
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "accounts.bad_credentials"
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "password"
    assert ApiToken.objects.count() == 0
    assert AuditRecord.objects.count() == audit_count


@pytest.mark.django_db(transaction=True)
def test_me_needs_credentials(http: httpx.Client) -> None:
    # when
    response = http.get("/auth/me")

    # then
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthenticated", "message": "Log in or send a valid API token."}
    }
