"""Open311 client keys at the service level: issue, revoke, authenticate, throttle; the client
organization service; the two commands; and case_submit's checks of the fields Open311 clients
send (media_url, reporter_email)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.accounts.errors import AccountError
from civicgrid.accounts.models import ClientKey, Organization, OrganizationKind, Role, User
from civicgrid.accounts.services import (
    client_key_authenticate,
    client_key_issue,
    client_key_revoke,
    client_key_throttle,
    organization_create_client,
    token_hash,
)
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Case, Trace
from civicgrid.cases.tests.factories import build_world, submit
from civicgrid.core.errors import ErrorKind
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def make_admin(username: str = "root") -> User:
    return User.objects.create_user(username=username, role=Role.ADMINISTRATOR)


def make_client(code: str = "city-app", *, is_active: bool = True) -> Organization:
    return Organization.objects.create(
        kind=OrganizationKind.CLIENT, code=code, name="市民App", is_active=is_active
    )


def audit_actions() -> list[str]:
    return list(AuditRecord.objects.order_by("id").values_list("action", flat=True))


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """The throttle counts in the cache; tests must not see each other's counts."""
    cache.clear()
    yield
    cache.clear()


# --------------------------------------------------------------------------- issue


def test_issue_returns_the_raw_key_once_and_stores_only_its_hash() -> None:
    # given
    admin = make_admin()
    org = make_client()

    # when
    key, raw = client_key_issue(actor=admin, organization=org, name="iOS app", rate_per_minute=30)

    # then
    stored = ClientKey.objects.get()
    assert stored.pk == key.pk
    assert stored.organization_id == org.pk
    assert stored.name == "iOS app"
    assert stored.rate_per_minute == 30
    assert stored.prefix == raw[:8]
    assert len(raw) == 43
    assert stored.key_hash == token_hash(raw)
    assert raw not in (stored.key_hash, stored.name, stored.prefix)
    assert stored.created_by_id == admin.pk
    assert stored.revoked_at is None
    assert stored.last_used_at is None
    audit = AuditRecord.objects.get()
    assert audit.action == "accounts.client_key_issue"
    assert audit.actor_id == admin.pk
    assert audit.target_id == str(key.pk)
    assert audit.data == {
        "organization": "city-app",
        "name": "iOS app",
        "prefix": raw[:8],
        "rate_per_minute": 30,
    }
    assert raw not in str(audit.data)


def test_two_keys_of_one_organization_differ() -> None:
    # given
    org = make_client()

    # when
    first, raw1 = client_key_issue(actor=None, organization=org, name="a")
    second, raw2 = client_key_issue(actor=None, organization=org, name="b")

    # then
    assert raw1 != raw2
    assert first.key_hash != second.key_hash
    assert first.rate_per_minute == 60


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.OPERATOR, Role.SUPERVISOR])
def test_a_non_administrator_may_not_issue(role: str) -> None:
    # given
    actor = User.objects.create_user(username="someone", role=role)
    org = make_client()

    # when
    with pytest.raises(AccountError) as refused:
        client_key_issue(actor=actor, organization=org, name="mine")

    # then
    assert refused.value.code == "accounts.forbidden"
    assert refused.value.kind == ErrorKind.FORBIDDEN
    assert refused.value.message == "Only an administrator may manage Open311 API keys."
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_an_inactive_administrator_may_not_issue() -> None:
    # given
    admin = make_admin()
    admin.is_active = False
    admin.save()

    # when
    with pytest.raises(AccountError) as refused:
        client_key_issue(actor=admin, organization=make_client(), name="x")

    # then
    assert refused.value.code == "accounts.forbidden"
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_issue_needs_a_name_of_1_to_80_characters(name: str) -> None:
    # when
    with pytest.raises(AccountError) as refused:
        client_key_issue(actor=make_admin(), organization=make_client(), name=name)

    # then
    assert refused.value.code == "accounts.bad_input"
    assert refused.value.field == "name"
    assert refused.value.message == "Give the key a name of 1 to 80 characters."
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize("rate", [0, -1, 100_001, 200_000, True, 1.5, "60", None])
def test_issue_needs_a_whole_rate_from_1_to_100000(rate: Any) -> None:
    # when
    with pytest.raises(AccountError) as refused:
        client_key_issue(
            actor=make_admin(), organization=make_client(), name="x", rate_per_minute=rate
        )

    # then
    assert refused.value.code == "accounts.bad_input"
    assert refused.value.field == "rate_per_minute"
    assert refused.value.message == (
        "The rate limit must be a whole number of requests per minute from 1 to 100000."
    )
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize("rate", [1, 100_000])
def test_issue_accepts_the_bounds_of_the_rate(rate: int) -> None:
    # when
    key, _raw = client_key_issue(
        actor=None, organization=make_client(), name="x", rate_per_minute=rate
    )

    # then
    assert ClientKey.objects.get().rate_per_minute == rate
    assert key.rate_per_minute == rate


def test_issue_to_an_inactive_organization_is_refused() -> None:
    # given
    org = make_client(is_active=False)

    # when
    with pytest.raises(AccountError) as refused:
        client_key_issue(actor=make_admin(), organization=org, name="x")

    # then
    assert refused.value.code == "accounts.bad_input"
    assert refused.value.field == "organization"
    assert refused.value.message == "Organization city-app is not active."
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


# --------------------------------------------------------------------------- revoke


def test_revoke_stops_authentication_and_twice_is_a_conflict() -> None:
    # given
    admin = make_admin()
    key, raw = client_key_issue(actor=admin, organization=make_client(), name="x")

    # when
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI), tick=False):
        revoked = client_key_revoke(actor=admin, key=key)
    with pytest.raises(AccountError) as again:
        client_key_revoke(actor=admin, key=key)

    # then
    assert revoked.revoked_at == dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    assert ClientKey.objects.get().revoked_at == revoked.revoked_at
    assert client_key_authenticate(raw_key=raw) is None
    assert again.value.code == "accounts.revoked"
    assert again.value.kind == ErrorKind.CONFLICT
    assert again.value.http_status == 409
    assert again.value.message == "This key was already revoked."
    assert audit_actions() == ["accounts.client_key_issue", "accounts.client_key_revoke"]
    assert AuditRecord.objects.order_by("-id")[0].data == {
        "organization": "city-app",
        "name": "x",
        "prefix": raw[:8],
    }


def test_a_non_administrator_may_not_revoke() -> None:
    # given
    key, raw = client_key_issue(actor=None, organization=make_client(), name="x")
    operator = User.objects.create_user(username="op", role=Role.OPERATOR)
    audit_count = AuditRecord.objects.count()

    # when
    with pytest.raises(AccountError) as refused:
        client_key_revoke(actor=operator, key=key)

    # then
    assert refused.value.code == "accounts.forbidden"
    assert ClientKey.objects.get().revoked_at is None
    assert client_key_authenticate(raw_key=raw) is not None
    assert AuditRecord.objects.count() == audit_count


# --------------------------------------------------------------------------- authenticate


def test_authenticate_finds_the_key_and_touches_last_used_at_most_once_a_minute() -> None:
    # given
    key, raw = client_key_issue(actor=None, organization=make_client(), name="x")
    t0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    audit_count = AuditRecord.objects.count()

    # when
    first = client_key_authenticate(raw_key=raw, now=t0)
    soon = client_key_authenticate(raw_key=f"  {raw}\n", now=t0 + dt.timedelta(seconds=30))
    later = client_key_authenticate(raw_key=raw, now=t0 + dt.timedelta(seconds=61))

    # then
    assert first is not None and first.pk == key.pk
    assert first.organization.code == "city-app"
    assert soon is not None and soon.last_used_at == t0
    assert later is not None and later.last_used_at == t0 + dt.timedelta(seconds=61)
    assert ClientKey.objects.get().last_used_at == t0 + dt.timedelta(seconds=61)
    assert AuditRecord.objects.count() == audit_count


@pytest.mark.parametrize("raw", ["", "   ", "nope", "x" * 201])
def test_authenticate_refuses_unknown_keys(raw: str) -> None:
    # given
    client_key_issue(actor=None, organization=make_client(), name="x")

    # then
    assert client_key_authenticate(raw_key=raw) is None


def test_authenticate_refuses_the_prefix_or_the_hash_instead_of_the_key() -> None:
    # given
    key, _raw = client_key_issue(actor=None, organization=make_client(), name="x")

    # then
    assert client_key_authenticate(raw_key=key.prefix) is None
    assert client_key_authenticate(raw_key=key.key_hash) is None


def test_authenticate_refuses_keys_of_an_inactive_organization() -> None:
    # given
    org = make_client()
    _key, raw = client_key_issue(actor=None, organization=org, name="x")
    org.is_active = False
    org.save()

    # when
    found = client_key_authenticate(raw_key=raw)

    # then
    assert found is None
    assert ClientKey.objects.get().last_used_at is None


# --------------------------------------------------------------------------- throttle


def test_throttle_allows_the_rate_then_refuses_until_the_next_minute(fresh_cache: None) -> None:
    # given a key allowing 3 requests a minute, at 10:00:45 UTC
    key, _raw = client_key_issue(
        actor=None, organization=make_client(), name="x", rate_per_minute=3
    )
    start = dt.datetime(2026, 3, 2, 10, 0, 45, tzinfo=dt.UTC)

    # when
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            client_key_throttle(key=key)
        with pytest.raises(AccountError) as limited:
            client_key_throttle(key=key)
    with time_machine.travel(start + dt.timedelta(seconds=15), tick=False):
        client_key_throttle(key=key)  # 10:01:00, a new minute

    # then
    assert limited.value.code == "accounts.rate_limited"
    assert limited.value.kind == ErrorKind.RATE_LIMITED
    assert limited.value.http_status == 429
    assert limited.value.details == {"retry_after": 15}
    assert limited.value.message == (
        "This API key has sent more than 3 requests this minute; try again in 15 seconds."
    )


def test_throttle_counts_each_key_apart(fresh_cache: None) -> None:
    # given two keys of one request a minute
    org = make_client()
    one, _ = client_key_issue(actor=None, organization=org, name="one", rate_per_minute=1)
    two, _ = client_key_issue(actor=None, organization=org, name="two", rate_per_minute=1)

    # when
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC), tick=False):
        client_key_throttle(key=one)
        client_key_throttle(key=two)
        with pytest.raises(AccountError) as limited:
            client_key_throttle(key=one)

    # then
    assert limited.value.details == {"retry_after": 60}


# --------------------------------------------------------------------------- client organizations


def test_organization_create_client_makes_an_active_client_with_one_audit_row() -> None:
    # given
    admin = make_admin()

    # when
    org = organization_create_client(
        actor=admin, code="hotline-bridge", name=" 12345 热线 ", name_en="12345 hotline"
    )

    # then
    stored = Organization.objects.get(code="hotline-bridge")
    assert stored.pk == org.pk
    assert (stored.kind, stored.name, stored.name_en, stored.is_active) == (
        "client",
        "12345 热线",
        "12345 hotline",
        True,
    )
    audit = AuditRecord.objects.get()
    assert audit.action == "accounts.organization_create"
    assert audit.data == {"code": "hotline-bridge", "kind": "client", "name": "12345 热线"}


@pytest.mark.parametrize(
    ("code", "name", "name_en", "field"),
    [
        ("", "App", "", "code"),
        ("City App", "App", "", "code"),
        ("-app", "App", "", "code"),
        ("a" * 41, "App", "", "code"),
        ("app", "", "", "name"),
        ("app", "  ", "", "name"),
        ("app", "x" * 121, "", "name"),
        ("app", "App", "x" * 121, "name_en"),
    ],
)
def test_organization_create_client_refuses_bad_input(
    code: str, name: str, name_en: str, field: str
) -> None:
    # when
    with pytest.raises(AccountError) as refused:
        organization_create_client(actor=make_admin(), code=code, name=name, name_en=name_en)

    # then
    assert refused.value.code == "accounts.bad_input"
    assert refused.value.field == field
    assert Organization.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_organization_create_client_refuses_a_code_in_use() -> None:
    # given
    make_client("city-app")

    # when
    with pytest.raises(AccountError) as refused:
        organization_create_client(actor=make_admin(), code="city-app", name="Another")

    # then
    assert refused.value.field == "code"
    assert refused.value.kind == ErrorKind.CONFLICT
    assert refused.value.message == "An organization with code city-app already exists."
    assert Organization.objects.count() == 1
    assert AuditRecord.objects.count() == 0


def test_organization_create_client_is_for_administrators() -> None:
    # given
    resident = User.objects.create_user(username="amy", role=Role.RESIDENT)

    # when
    with pytest.raises(AccountError) as refused:
        organization_create_client(actor=resident, code="app", name="App")

    # then
    assert refused.value.code == "accounts.forbidden"
    assert Organization.objects.count() == 0
    assert AuditRecord.objects.count() == 0


# --------------------------------------------------------------------------- commands


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_issue_client_key_command_prints_a_working_key_once() -> None:
    # given
    make_client()

    # when
    out, err = run("issue_client_key", "--organization", "city-app", "--name", "iOS", "--rate", "5")

    # then
    raw = out.strip()
    key = ClientKey.objects.get()
    assert key.key_hash == token_hash(raw)
    assert key.rate_per_minute == 5
    assert key.created_by is None
    assert raw not in err
    assert err.strip() == (
        f"Key {key.prefix}… (iOS) issued to city-app, 5 requests per minute. It is not shown again."
    )
    assert client_key_authenticate(raw_key=raw) == key
    assert audit_actions() == ["accounts.client_key_issue"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "nobody", "--name", "x"], "No organization 'nobody'."),
        (
            ["--organization", "dept", "--name", "x"],
            "Organization 'dept' is a department, not an API client (kind 'client').",
        ),
        (
            ["--organization", "city-app", "--name", "x", "--rate", "0"],
            "The rate limit must be a whole number of requests per minute from 1 to 100000.",
        ),
        (
            ["--organization", "city-app", "--name", "x", "--rate", "200000"],
            "The rate limit must be a whole number of requests per minute from 1 to 100000.",
        ),
        (
            ["--organization", "city-app", "--name", "  "],
            "Give the key a name of 1 to 80 characters.",
        ),
    ],
)
def test_issue_client_key_command_refuses_bad_arguments_with_exit_code_2(
    args: list[str], message: str
) -> None:
    # given
    make_client()
    Organization.objects.create(kind=OrganizationKind.DEPARTMENT, code="dept", name="部门")

    # when
    with pytest.raises(CommandError) as refused:
        run("issue_client_key", *args)

    # then
    assert str(refused.value) == message
    assert refused.value.returncode == 2
    assert ClientKey.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_issue_client_key_command_refuses_a_rate_that_is_not_a_number() -> None:
    # given
    make_client()

    # when
    with pytest.raises(CommandError) as refused:
        run("issue_client_key", "--organization", "city-app", "--name", "x", "--rate", "abc")

    # then
    assert "invalid int value: 'abc'" in str(refused.value)
    assert ClientKey.objects.count() == 0


def test_revoke_client_key_command_by_prefix_and_by_id() -> None:
    # given
    org = make_client()
    first, raw1 = client_key_issue(actor=None, organization=org, name="one")
    second, raw2 = client_key_issue(actor=None, organization=org, name="two")

    # when
    out1, _ = run("revoke_client_key", first.prefix)
    out2, _ = run("revoke_client_key", str(second.pk))

    # then
    assert out1.strip() == (
        f"Key {first.prefix}… (one) of city-app revoked; requests with it are refused from now on."
    )
    assert f"Key {second.prefix}… (two)" in out2
    assert client_key_authenticate(raw_key=raw1) is None
    assert client_key_authenticate(raw_key=raw2) is None
    assert audit_actions().count("accounts.client_key_revoke") == 2


def test_revoke_client_key_command_refuses_unknown_and_revoked_keys() -> None:
    # given
    key, _raw = client_key_issue(actor=None, organization=make_client(), name="one")
    client_key_revoke(actor=None, key=key)
    audit_count = AuditRecord.objects.count()

    # when
    with pytest.raises(CommandError) as unknown:
        run("revoke_client_key", "zzzzzzzz")
    with pytest.raises(CommandError) as again:
        run("revoke_client_key", key.prefix)

    # then
    assert str(unknown.value) == "No API key with id or prefix 'zzzzzzzz'."
    assert unknown.value.returncode == 2
    assert str(again.value) == "This key was already revoked."
    assert AuditRecord.objects.count() == audit_count


# --------------------------------------------------------------------------- case fields of Open311


def case_rows() -> tuple[int, int, int]:
    return Case.objects.count(), Trace.objects.count(), AuditRecord.objects.count()


@pytest.mark.parametrize(
    ("media_url", "message"),
    [
        ("ftp://example.org/a.jpg", "The media URL must be an http or https address."),
        ("javascript:alert(1)", "The media URL must be an http or https address."),
        ("not a url", "The media URL must be an http or https address."),
        (
            "https://example.org/" + "a" * 490,
            "The media URL is 510 characters long; at most 500 are allowed.",
        ),
    ],
)
def test_case_submit_refuses_a_bad_media_url(media_url: str, message: str) -> None:
    # given
    world = build_world()
    before = case_rows()

    # when
    with pytest.raises(CaseError) as refused:
        submit(world, actor=None, source="open311", media_url=media_url)

    # then
    assert refused.value.code == "cases.bad_input"
    assert refused.value.field == "media_url"
    assert refused.value.message == message
    assert case_rows() == before


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x" * 110 + "@example.org"])
def test_case_submit_refuses_a_bad_reporter_email(email: str) -> None:
    # given
    world = build_world()
    before = case_rows()

    # when
    with pytest.raises(CaseError) as refused:
        submit(world, actor=None, source="open311", reporter_email=email)

    # then
    assert refused.value.code == "cases.bad_input"
    assert refused.value.field == "email"
    assert refused.value.message == (
        f"{email[:40]} is not an email address of at most 120 characters."
    )
    assert case_rows() == before


def test_case_submit_keeps_a_good_media_url_email_and_the_key() -> None:
    # given
    world = build_world()
    key, _raw = client_key_issue(actor=None, organization=make_client(), name="x")

    # when
    case = submit(
        world,
        actor=None,
        source="open311",
        media_url=" https://example.org/p/1.jpg ",
        reporter_email=" amy@example.org ",
        client_key=key,
    )

    # then
    stored = Case.objects.get(pk=case.pk)
    assert stored.media_url == "https://example.org/p/1.jpg"
    assert stored.reporter_email == "amy@example.org"
    assert stored.client_key == key
    assert AuditRecord.objects.filter(action="case.submit").get().data["client_key"] == key.prefix
    assert timezone.is_aware(stored.reported_at)


def test_generated_keys_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the random source first yields a key that starts with "-"
    from civicgrid.accounts import services

    draws = iter(
        [
            "-starts-with-a-dash-xxxxxxxxxxxxxxxxxxxxxxxx",
            "Aok-key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ]
    )
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda n: next(draws))
    # when
    key, raw = client_key_issue(actor=None, organization=make_client(), name="dash")
    # then the dashed draw was skipped
    assert raw == "Aok-key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    assert key.prefix == "Aok-key-"
