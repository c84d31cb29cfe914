"""The Open311 API keys page for administrators, its revoke confirmation, and the Django admin
of the keys: who may open them, issuing (the raw key shown once), revoking, and bad input
that writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicgrid.accounts.models import ClientKey, Organization, OrganizationKind
from civicgrid.accounts.services import client_key_authenticate, client_key_issue, token_hash
from civicgrid.cases.tests.factories import World, build_world, submit
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def client_for(world: World, username: str | None, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    if username is not None:
        client.force_login(world.users[username])
    return client


def world_with_client() -> World:
    world = build_world()
    world.units["app"] = Organization.objects.create(
        kind=OrganizationKind.CLIENT, code="city-app", name="市民App", name_en="City app"
    )
    world.units["old-app"] = Organization.objects.create(
        kind=OrganizationKind.CLIENT, code="old-app", name="旧App", is_active=False
    )
    return world


def snapshot() -> tuple[Any, ...]:
    return (
        list(Organization.objects.order_by("pk").values_list("pk", "code", "kind")),
        list(ClientKey.objects.order_by("pk").values_list("pk", "revoked_at")),
        AuditRecord.objects.count(),
    )


def issue(world: World, **data: Any) -> Any:
    form = {"organization": "city-app", "name": "iOS app", "rate_per_minute": "30"}
    form.update(data)
    return client_for(world, "admin").post("/keys/", form)


def near(text: str, anchor: str, size: int = 1500) -> str:
    """The HTML from ``anchor`` on, to find an error next to its field."""
    return text[text.index(anchor) : text.index(anchor) + size]


# --------------------------------------------------------------------------- who may open it


@pytest.mark.parametrize("path", ["/keys/", "/keys/1/revoke/"])
def test_anonymous_users_are_sent_to_log_in(path: str) -> None:
    # given
    world = world_with_client()

    # when
    response = client_for(world, None).get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("username", ["resident", "operator", "dispatcher", "supervisor"])
def test_other_roles_do_not_find_the_pages(username: str) -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(actor=None, organization=world.units["app"], name="x")
    before = snapshot()
    client = client_for(world, username)

    # when
    page = client.get("/keys/")
    issued = client.post("/keys/", {"organization": "city-app", "name": "x", "rate": "5"})
    confirm = client.get(f"/keys/{key.pk}/revoke/")
    revoke = client.post(f"/keys/{key.pk}/revoke/")

    # then
    assert [r.status_code for r in (page, issued, confirm, revoke)] == [404, 404, 404, 404]
    assert snapshot() == before


def test_the_administrator_sees_the_keys_and_a_link_in_the_navigation() -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(
        actor=None, organization=world.units["app"], name="iOS app", rate_per_minute=30
    )
    submit(world, actor=None, source="open311", client_key=key)
    submit(world, actor=None, source="open311", client_key=key)

    # when
    response = client_for(world, "admin").get("/keys/")

    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    text = response.text
    assert 'href="/keys/">Open311 API keys</a>' in text
    row = near(text, f'<tr data-key="{key.prefix}"', 900)
    assert "City app <small>(city-app)</small>" in row
    assert "<td>iOS app</td>" in row
    assert f"<code>{key.prefix}…</code>" in row
    assert "<td>30</td>" in row
    assert '<td data-key-status="active">Active</td>' in row
    assert "<td>2</td>" in row  # cases submitted with it
    assert f'href="/keys/{key.pk}/revoke/"' in row
    assert key.key_hash not in text
    # only active client organizations are offered
    assert '<option value="city-app">City app</option>' in text
    assert "old-app" not in text
    assert 'value="clean-co"' not in text


def test_other_roles_have_no_link_to_the_keys() -> None:
    world = world_with_client()
    assert "/keys/" not in client_for(world, "operator").get("/").text


# --------------------------------------------------------------------------- issuing


def test_issuing_shows_the_raw_key_once_with_a_curl_example() -> None:
    # given
    world = world_with_client()

    # when
    response = issue(world)
    again = client_for(world, "admin").get("/keys/")

    # then
    key = ClientKey.objects.get()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    text = response.text
    raw = text.split('<code class="secret" data-raw-key>')[1].split("</code>")[0]
    assert key.key_hash == token_hash(raw)
    assert client_key_authenticate(raw_key=raw) == key
    assert "Copy the key now: it is not stored and will not be shown again." in text
    assert (
        f"curl -d api_key={raw} -d service_code=C0101 -d lat=39.927500 -d long=116.451500 "
        "-d &#x27;description=A test request: please ignore it&#x27; "
        "http://testserver/open311/v2/requests.json"
    ) in text
    assert (key.organization.code, key.name, key.rate_per_minute) == ("city-app", "iOS app", 30)
    assert key.created_by == world.users["admin"]
    assert list(
        AuditRecord.objects.filter(target_type="accounts.clientkey").values_list(
            "action", flat=True
        )
    ) == ["accounts.client_key_issue"]
    assert raw not in again.text
    assert "data-raw-key" not in again.text
    assert f'<tr data-key="{key.prefix}"' in again.text


def test_issuing_to_a_new_client_organization_creates_it_first() -> None:
    # given
    world = world_with_client()
    audit_count = AuditRecord.objects.count()

    # when
    response = issue(
        world,
        organization="",
        new_code="hotline-bridge",
        new_name="12345 热线",
        new_name_en="12345 hotline",
        name="bridge",
    )

    # then
    assert response.status_code == 200
    org = Organization.objects.get(code="hotline-bridge")
    assert (org.kind, org.name, org.name_en, org.is_active) == (
        "client",
        "12345 热线",
        "12345 hotline",
        True,
    )
    key = ClientKey.objects.get()
    assert key.organization == org
    assert list(
        AuditRecord.objects.order_by("id")[audit_count:].values_list("action", flat=True)
    ) == ["accounts.organization_create", "accounts.client_key_issue"]
    assert '<option value="hotline-bridge">12345 hotline</option>' in response.text


@pytest.mark.parametrize(
    ("data", "field", "message", "status"),
    [
        ({"name": ""}, "id_name", "Give the key a name of 1 to 80 characters.", 400),
        ({"name": "   "}, "id_name", "Give the key a name of 1 to 80 characters.", 400),
        ({"name": "x" * 81}, "id_name", "Give the key a name of 1 to 80 characters.", 400),
        (
            {"rate_per_minute": "0"},
            "id_rate_per_minute",
            "The rate limit must be a whole number of requests per minute from 1 to 100000.",
            400,
        ),
        (
            {"rate_per_minute": "200000"},
            "id_rate_per_minute",
            "The rate limit must be a whole number of requests per minute from 1 to 100000.",
            400,
        ),
        ({"rate_per_minute": "abc"}, "id_rate_per_minute", "Enter a whole number.", 400),
        ({"rate_per_minute": ""}, "id_rate_per_minute", "This field is required.", 400),
        (
            {"organization": "nobody"},
            "id_organization",
            "Select a valid choice. That choice is not one of the available choices.",
            400,
        ),
        (
            {"organization": "clean-co"},
            "id_organization",
            "Select a valid choice. That choice is not one of the available choices.",
            400,
        ),
        (
            {"organization": "old-app"},
            "id_organization",
            "Select a valid choice. That choice is not one of the available choices.",
            400,
        ),
        (
            {"organization": ""},
            "id_organization",
            "Choose a client organization, or give the code and name of a new one.",
            400,
        ),
        (
            {"new_code": "other-app", "new_name": "Other"},
            "id_organization",
            "Choose an existing organization or describe a new one, not both.",
            400,
        ),
        (
            {"organization": "", "new_code": "clean-co", "new_name": "Dup"},
            "id_new_code",
            "An organization with code clean-co already exists.",
            409,
        ),
        (
            {"organization": "", "new_code": "Bad Code", "new_name": "App"},
            "id_new_code",
            "An organization code is 1 to 40 lower-case letters, digits, &#x27;-&#x27; or "
            "&#x27;_&#x27;, starting with a letter or digit.",
            400,
        ),
        (
            {"organization": "", "new_code": "new-app", "new_name": ""},
            "id_new_name",
            "Give the organization a name of 1 to 120 characters.",
            400,
        ),
        # the new organization is valid but the key is not: the organization is not kept
        (
            {"organization": "", "new_code": "new-app", "new_name": "App", "name": ""},
            "id_name",
            "Give the key a name of 1 to 80 characters.",
            400,
        ),
        (
            {"organization": "", "new_code": "new-app", "new_name": "App", "rate_per_minute": "0"},
            "id_rate_per_minute",
            "The rate limit must be a whole number of requests per minute from 1 to 100000.",
            400,
        ),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_writes_nothing(
    data: dict[str, str], field: str, message: str, status: int
) -> None:
    # given
    world = world_with_client()
    before = snapshot()

    # when
    response = issue(world, **data)

    # then
    assert response.status_code == status
    assert snapshot() == before
    text = response.text
    assert "data-raw-key" not in text
    start = text.index(f'id="{field}"')
    ends = [text.find(marker, start) for marker in ('<div class="field', "</form>")]
    field_block = text[start : min(end for end in ends if end > 0)]
    assert f'<p class="error" role="alert">{message}</p>' in field_block


def test_issuing_needs_the_csrf_token() -> None:
    # given
    world = world_with_client()
    before = snapshot()

    # when
    response = client_for(world, "admin", enforce_csrf_checks=True).post(
        "/keys/", {"organization": "city-app", "name": "x", "rate_per_minute": "5"}
    )

    # then
    assert response.status_code == 403
    assert snapshot() == before


# --------------------------------------------------------------------------- revoking


def test_revoking_asks_to_confirm_then_revokes() -> None:
    # given
    world = world_with_client()
    key, raw = client_key_issue(actor=None, organization=world.units["app"], name="iOS app")
    client = client_for(world, "admin")

    # when
    confirm = client.get(f"/keys/{key.pk}/revoke/")
    unchanged = ClientKey.objects.get().revoked_at
    done = client.post(f"/keys/{key.pk}/revoke/", follow=True)

    # then
    assert confirm.status_code == 200
    assert f"<code>{key.prefix}…</code>" in confirm.text
    assert f'<form method="post" action="/keys/{key.pk}/revoke/"' in confirm.text
    assert "Revoke the key" in confirm.text
    assert unchanged is None
    assert done.redirect_chain == [("/keys/", 302)]
    assert f"API key {key.prefix}… (iOS app) is revoked; requests with it are refused." in (
        done.text
    )
    assert '<td data-key-status="revoked">Revoked ' in done.text
    assert f'href="/keys/{key.pk}/revoke/"' not in done.text
    assert ClientKey.objects.get().revoked_at is not None
    assert client_key_authenticate(raw_key=raw) is None
    assert list(
        AuditRecord.objects.filter(target_type="accounts.clientkey").values_list(
            "action", flat=True
        )
    ) == ["accounts.client_key_issue", "accounts.client_key_revoke"]


def test_revoking_twice_is_refused_with_409_and_writes_nothing() -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(actor=None, organization=world.units["app"], name="x")
    client = client_for(world, "admin")
    client.post(f"/keys/{key.pk}/revoke/")
    before = snapshot()

    # when
    response = client.post(f"/keys/{key.pk}/revoke/")

    # then
    assert response.status_code == 409
    assert '<div class="errorlist" role="alert"><p>This key was already revoked.</p></div>' in (
        response.text
    )
    assert "Revoke the key" not in response.text
    assert snapshot() == before


def test_revoking_an_unknown_key_is_not_found() -> None:
    # given
    world = world_with_client()

    # when
    response = client_for(world, "admin").post("/keys/999/revoke/")

    # then
    assert response.status_code == 404


def test_revoking_needs_the_csrf_token() -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(actor=None, organization=world.units["app"], name="x")
    before = snapshot()

    # when
    response = client_for(world, "admin", enforce_csrf_checks=True).post(f"/keys/{key.pk}/revoke/")

    # then
    assert response.status_code == 403
    assert snapshot() == before


# --------------------------------------------------------------------------- the Django admin


def admin_client(world: World) -> Client:
    return client_for(world, "admin")


def test_admin_lists_keys_without_their_hash() -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(actor=None, organization=world.units["app"], name="iOS app")

    # when
    listing = admin_client(world).get("/admin/accounts/clientkey/")
    detail = admin_client(world).get(f"/admin/accounts/clientkey/{key.pk}/change/")
    search = admin_client(world).get("/admin/accounts/clientkey/", {"q": key.prefix})
    active = admin_client(world).get("/admin/accounts/clientkey/", {"status": "revoked"})

    # then
    assert listing.status_code == 200
    assert f"{key.prefix}…" in listing.text
    assert key.key_hash not in listing.text
    assert detail.status_code == 200
    assert key.key_hash not in detail.text
    assert 'name="name"' not in detail.text  # read-only
    assert f"{key.prefix}…" in search.text
    assert f"{key.prefix}…" not in active.text


def test_admin_add_form_issues_through_the_service_and_shows_the_key_once() -> None:
    # given
    world = world_with_client()
    client = admin_client(world)

    # when
    form = client.get("/admin/accounts/clientkey/add/")
    response = client.post(
        "/admin/accounts/clientkey/add/",
        {"organization": str(world.units["app"].pk), "name": "hotline", "rate_per_minute": "12"},
        follow=True,
    )
    later = client.get("/admin/accounts/clientkey/")

    # then
    assert form.status_code == 200
    assert 'name="key_hash"' not in form.text
    assert 'name="prefix"' not in form.text
    assert "clean-co" not in form.text  # only client organizations
    key = ClientKey.objects.get()
    assert (key.name, key.rate_per_minute, key.created_by) == (
        "hotline",
        12,
        world.users["admin"],
    )
    assert response.status_code == 200
    message = response.text.split("The new API key for city-app is ")[1]
    raw = message.split(" — copy it now, it is not shown again.")[0]
    assert key.key_hash == token_hash(raw)
    assert raw not in later.text
    actions = list(
        AuditRecord.objects.filter(target_type="accounts.clientkey").values_list(
            "action", flat=True
        )
    )
    assert actions == ["accounts.client_key_issue"]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "rate_per_minute": "5"},
        {"name": "x", "rate_per_minute": "0"},
        {"name": "x", "rate_per_minute": "100001"},
        {"name": "x", "rate_per_minute": "abc"},
    ],
)
def test_admin_add_form_refuses_bad_input_and_writes_nothing(data: dict[str, str]) -> None:
    # given
    world = world_with_client()
    before = snapshot()

    # when
    response = admin_client(world).post(
        "/admin/accounts/clientkey/add/", {"organization": str(world.units["app"].pk), **data}
    )

    # then
    assert response.status_code == 200
    assert 'class="errorlist' in response.text
    assert snapshot() == before


def test_admin_add_form_refuses_an_inactive_or_non_client_organization() -> None:
    # given
    world = world_with_client()
    before = snapshot()

    # when
    responses = [
        admin_client(world).post(
            "/admin/accounts/clientkey/add/",
            {"organization": str(org.pk), "name": "x", "rate_per_minute": "5"},
        )
        for org in (world.units["old-app"], world.units["clean"])
    ]

    # then
    for response in responses:
        assert "Select a valid choice." in response.text
    assert snapshot() == before


def test_admin_revoke_action_reports_keys_already_revoked() -> None:
    # given
    world = world_with_client()
    org = world.units["app"]
    one, _ = client_key_issue(actor=None, organization=org, name="one")
    two, _ = client_key_issue(actor=None, organization=org, name="two")
    admin_client(world).post(f"/keys/{one.pk}/revoke/")

    # when
    response = admin_client(world).post(
        "/admin/accounts/clientkey/",
        {"action": "revoke_keys", "_selected_action": [str(one.pk), str(two.pk)]},
        follow=True,
    )

    # then
    assert response.status_code == 200
    assert f"Revoked 1 key: {two.prefix}…." in response.text
    assert f"Already revoked, left as they were: {one.prefix}…." in response.text
    assert ClientKey.objects.filter(revoked_at__isnull=True).count() == 0
    assert AuditRecord.objects.filter(action="accounts.client_key_revoke").count() == 2


def test_admin_cannot_delete_or_edit_keys() -> None:
    # given
    world = world_with_client()
    key, _raw = client_key_issue(actor=None, organization=world.units["app"], name="one")
    before = snapshot()

    # when
    delete = admin_client(world).post(
        f"/admin/accounts/clientkey/{key.pk}/delete/", {"post": "yes"}
    )
    edit = admin_client(world).post(
        f"/admin/accounts/clientkey/{key.pk}/change/",
        {"organization": str(world.units["app"].pk), "name": "renamed", "rate_per_minute": "9"},
    )

    # then
    assert delete.status_code == 403
    assert edit.status_code == 403
    assert ClientKey.objects.get().name == "one"
    assert snapshot() == before
