"""available_steps: which workflow forms a page offers to whom."""

from __future__ import annotations

import pytest

from civicgrid.cases import services as s
from civicgrid.cases.tests.factories import build_world, photo, submit
from civicgrid.web.steps import available_steps

pytestmark = pytest.mark.django_db


def test_reported_case_offers_intake_steps_by_role():
    # given
    world = build_world()
    case = submit(world)

    # when
    steps = {name: available_steps(world.users[name], case) for name in world.users}

    # then
    assert steps["operator"] == ["accept", "cancel"]
    assert steps["grid_worker"] == ["self_handle"]
    assert steps["shift_leader"] == ["cancel"]
    assert steps["dispatcher"] == []
    assert steps["clean_handler"] == []
    assert steps["resident"] == []
    assert steps["resident2"] == ["follow"]
    assert steps["other_operator"] == []
    assert available_steps(None, case) == []


def test_dispatched_case_offers_the_holding_unit_its_steps_only():
    # given
    world = build_world()
    case = submit(world)
    s.case_accept(actor=world.users["operator"], case=case)
    s.case_file(actor=world.users["shift_leader"], case=case)
    case = s.case_dispatch(actor=world.users["dispatcher"], case=case)

    # when
    clean = available_steps(world.users["clean_handler"], case)
    lights = available_steps(world.users["lights_handler"], case)
    dispatcher = available_steps(world.users["dispatcher"], case)

    # then
    assert clean == ["start", "process", "return_request", "extension_request", "hold_request"]
    assert lights == []
    assert dispatcher == ["transfer"]


def test_closed_case_offers_rating_to_the_reporter_until_rated():
    # given
    world = build_world()
    case = submit(world)
    s.case_accept(actor=world.users["operator"], case=case)
    s.case_file(actor=world.users["shift_leader"], case=case)
    s.case_dispatch(actor=world.users["dispatcher"], case=case)
    s.case_process(actor=world.users["clean_handler"], case=case, note="ok", photos=[photo()])
    s.case_check_start(actor=world.users["grid_worker"], case=case)
    case = s.case_check_finish(actor=world.users["grid_worker"], case=case, passed=True)

    # when
    before = available_steps(world.users["resident"], case)
    s.case_rate(actor=world.users["resident"], case=case, satisfaction="satisfied", resolved=True)
    case.refresh_from_db()
    after = available_steps(world.users["resident"], case)

    # then
    assert before == ["rate"]
    assert after == []
