"""The demo loader: deterministic, consistent with the case workflow, sealed, and safe to rerun."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections import Counter

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from civicgrid.accounts.models import Organization, Role, User
from civicgrid.cases.models import (
    OPEN_STATUSES,
    Action,
    Case,
    Light,
    Rating,
    RoutingRule,
    Status,
    Trace,
)
from civicgrid.cases.selectors import case_queue_page, light_expression, light_q
from civicgrid.core.models import AuditRecord
from civicgrid.core.services import audit_verify
from civicgrid.demo.generator import DEMO_LOGINS, DEMO_PASSWORD, demo_digest
from civicgrid.geo.models import Area, BaseMapFeature, GridCell, GridMember

END = "2026-06-30T18:00"


def load(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("demo_load", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def small(cases: int, residents: int = 40, seed: int = 7) -> tuple[str, str]:
    return load(
        "--cases", str(cases), "--residents", str(residents), "--seed", str(seed), "--end", END
    )


@pytest.mark.django_db(transaction=True)
def test_the_same_seed_and_end_give_the_same_data_in_two_fresh_databases() -> None:
    # given
    first_out, first_err = small(24)
    first = demo_digest()
    first_numbers = list(Case.objects.order_by("number").values_list("number", "status"))
    call_command("flush", interactive=False, verbosity=0)
    assert Case.objects.count() == 0
    # when
    second_out, second_err = small(24)
    # then
    assert demo_digest() == first
    assert list(Case.objects.order_by("number").values_list("number", "status")) == first_numbers
    assert len(first_numbers) == 24
    assert first_err == second_err == ""
    states = [line for line in first_out.splitlines() if line.startswith("Case states")]
    assert states == [line for line in second_out.splitlines() if line.startswith("Case states")]


@pytest.mark.django_db
def test_a_small_run_builds_a_consistent_community_with_cases_in_many_states() -> None:
    # when
    out, err = small(60, residents=60)
    # then: the community
    assert err == ""
    assert Area.objects.filter(level="community").count() == 3
    assert GridCell.objects.count() == 60
    assert GridCell.objects.filter(code__startswith="110105001002").count() == 20
    # the offline base map of the street: roads, blocks, parks and named landmarks
    kinds = dict(BaseMapFeature.objects.values_list("kind").annotate(n=Count("id")))
    assert kinds["building"] >= 400 and kinds["street"] >= 20 and kinds["landmark"] >= 10
    assert BaseMapFeature.objects.filter(kind="landmark", name_en__endswith="Station").exists()
    assert GridMember.objects.filter(role="full_time").count() == 60
    assert User.objects.filter(role="resident").count() == 60
    assert Organization.objects.filter(kind="contractor").count() == 11
    assert RoutingRule.objects.filter(cell__isnull=False).count() == 60 * 5
    # every case has its submit trace, and its trace times never go backwards or past the end
    cases = list(Case.objects.all())
    assert len(cases) == 60
    for case in cases:
        actions = list(case.traces.order_by("id").values_list("action", "finished_at"))
        assert actions[0][0] == Action.SUBMIT
        assert [t for _, t in actions] == sorted(t for _, t in actions)
        assert actions[-1][1].isoformat() <= "2026-06-30T10:00:00+00:00"
    assert Trace.objects.filter(action=Action.SUBMIT).count() == 60
    # closed cases passed a check, or were handled on the spot; evaluated ones carry a rating
    finished = Case.objects.filter(status__in=[Status.CLOSED, Status.EVALUATED])
    for case in finished:
        closing = Action.SELF_HANDLE if case.is_self_handled else Action.CHECK_PASS
        assert case.traces.filter(action=closing).exists(), case.number
    evaluated = Case.objects.filter(status=Status.EVALUATED)
    assert Rating.objects.filter(case__in=evaluated).count() == evaluated.count()
    assert Case.objects.filter(status=Status.CANCELLED).exclude(cancel_reason="").count() == (
        Case.objects.filter(status=Status.CANCELLED).count()
    )
    # several states, open work near the end, and the audit chain sealed and intact
    statuses = set(Case.objects.values_list("status", flat=True))
    assert {Status.EVALUATED, Status.REPORTED, Status.DISPATCHED, Status.PROCESSING} <= statuses
    assert len(statuses) >= 8
    result = audit_verify()
    assert result.ok
    assert result.unsealed_count == 0
    assert result.checked_count == AuditRecord.objects.count()
    assert "Sealed" in out
    assert "http://127.0.0.1:8000/" in out


@pytest.mark.django_db
def test_right_after_loading_the_open_cases_show_every_light_mostly_green() -> None:
    # given the moment the demo is loaded: its end time (on a working day, after work)
    loaded_at = dt.datetime.fromisoformat(END).replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    # when
    small(60, residents=60)
    # then: the open cases show a mix, as on a real day, not all red
    open_cases = Case.objects.filter(status__in=OPEN_STATUSES)
    lights = Counter(
        open_cases.annotate(lit=light_expression(loaded_at)).values_list("lit", flat=True)
    )
    assert lights == Counter(case.light(loaded_at) for case in open_cases)  # SQL and Python agree
    assert {Light.GREEN, Light.YELLOW, Light.RED} <= set(lights), lights
    assert lights.most_common(1)[0][0] == Light.GREEN, lights
    # the red ones are overdue and escalated to the supervisor
    red = open_cases.filter(light_q(Light.RED, loaded_at))
    assert red.count() == lights[Light.RED]
    assert all(case.is_overdue and case.is_supervised for case in red)
    # and every staff demo login's work queue (what its home page shows) has more than one colour
    for login in DEMO_LOGINS:
        if login.role == Role.RESIDENT:
            continue
        queue = case_queue_page(user=User.objects.get(username=login.username), now=loaded_at)
        colours = {light for light, n in queue.light_counts.items() if n and light != Light.NONE}
        assert len(colours) >= 2, (login.username, queue.light_counts)


@pytest.mark.django_db
def test_if_empty_skips_a_database_that_already_has_the_demo() -> None:
    # given
    small(5, residents=5)
    cases = Case.objects.count()
    audit_rows = AuditRecord.objects.count()
    # when
    out, _err = load("--if-empty", "--cases", "5")
    # then
    assert "already there" in out
    assert "gridworker" in out  # the logins are printed again, as make run promises
    assert Case.objects.count() == cases
    assert AuditRecord.objects.count() == audit_rows


@pytest.mark.django_db
def test_loading_twice_without_if_empty_is_refused_and_writes_nothing() -> None:
    # given
    User.objects.create_user(username="resident", password="x")
    # when
    with pytest.raises(CommandError, match="already holds demo data"):
        load("--cases", "5")
    # then
    assert Area.objects.count() == 0
    assert User.objects.count() == 1
    assert AuditRecord.objects.count() == 0


@pytest.mark.django_db
def test_every_demo_login_works_with_the_demo_password() -> None:
    # given
    out, _err = small(0, residents=3)
    # then
    for login in DEMO_LOGINS:
        user = authenticate(username=login.username, password=DEMO_PASSWORD)
        assert user is not None, login.username
        assert user.role == login.role
        assert login.username in out
    cells = User.objects.get(username="gridworker").grid_memberships.values_list("cell__code")
    assert sorted(c for (c,) in cells) == [f"110105001001{n:03d}" for n in range(1, 6)]
    handler = User.objects.select_related("organization").get(username="handler")
    assert handler.organization is not None
    assert handler.organization.code == "co-sanitation"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cases", "-1"], "--cases"),
        (["--cases", "lots"], "--cases"),
        (["--cases", "50001"], "--cases"),
        (["--residents", "0"], "--residents"),
        (["--seed", "1.5"], "--seed"),
        (["--end", "tomorrow"], "--end"),
        (["--end", "2999-01-01T00:00"], "--end"),
    ],
)
@pytest.mark.django_db
def test_bad_option_values_are_refused_clearly_and_write_nothing(
    args: list[str], message: str
) -> None:
    # when
    with pytest.raises(CommandError, match=message) as caught:
        load(*args)
    # then
    assert str(caught.value).startswith("Error: argument")
    assert Area.objects.count() == 0
    assert User.objects.count() == 0
    assert AuditRecord.objects.count() == 0
