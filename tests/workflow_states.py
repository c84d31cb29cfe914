"""Cases in every state of the workflow, walked there through the services (no shortcuts), for
the tests that must reach each step with a case the step accepts: the authorization matrix and
the schema fuzzing.

    world = build_world(second_community=True)
    cases = cases_in_every_state(world)   # {"reported": Case, "accepted": Case, ...}

Every case is a rubbish report (routed to clean-co) by ``resident`` in the centre cell; the
steps are taken by the role the workflow names.
"""

from __future__ import annotations

from typing import Any

from civicgrid.cases import services as s
from civicgrid.cases.models import Case, RequestKind, Status
from civicgrid.cases.tests.factories import World, photo, submit

# The state of each case, and what a step finds there: a pending request is named after it.
STATES = (
    "reported",
    "accepted",
    "filed",
    "dispatched",
    "return_requested",  # dispatched, the unit asked to give it back
    "processing",
    "extension_requested",  # processing, the unit asked for more time
    "hold_requested",  # processing, the unit asked to pause the clock
    "on_hold",  # processing, the hold approved
    "processed",
    "checking",
    "closed",
    "self_handled",  # closed on the spot by the grid worker, the review pending
)


def case_in_state(world: World, state: str, **submit_kwargs: Any) -> Case:
    """A new case walked to ``state`` (one of :data:`STATES`)."""
    u = world.users
    case = submit(world, **submit_kwargs)
    if state == "reported":
        return case
    if state == "self_handled":
        s.case_self_handle(
            actor=u["grid_worker"], case=case, note="顺手清理了", before=[photo()], after=[photo()]
        )
        return Case.objects.get(pk=case.pk)
    s.case_accept(actor=u["operator"], case=case, note="核实")
    if state == "accepted":
        return Case.objects.get(pk=case.pk)
    s.case_file(actor=u["shift_leader"], case=case)
    if state == "filed":
        return Case.objects.get(pk=case.pk)
    s.case_dispatch(actor=u["dispatcher"], case=case)
    if state == "dispatched":
        return Case.objects.get(pk=case.pk)
    if state == "return_requested":
        s.case_return_request(actor=u["clean_handler"], case=case, reason="不归我们管")
        return Case.objects.get(pk=case.pk)
    s.case_start(actor=u["clean_handler"], case=case)
    if state == "processing":
        return Case.objects.get(pk=case.pk)
    if state == "extension_requested":
        s.case_extension_request(
            actor=u["clean_handler"], case=case, extra_minutes=240, reason="需要吊车"
        )
        return Case.objects.get(pk=case.pk)
    if state in ("hold_requested", "on_hold"):
        s.case_hold_request(actor=u["clean_handler"], case=case, reason="等业主在家")
        if state == "on_hold":
            s.case_hold_decide(actor=u["shift_leader"], case=case, approve=True)
        return Case.objects.get(pk=case.pk)
    s.case_process(actor=u["clean_handler"], case=case, note="已清运", photos=[photo()])
    if state == "processed":
        return Case.objects.get(pk=case.pk)
    s.case_check_start(actor=u["grid_worker"], case=case)
    if state == "checking":
        return Case.objects.get(pk=case.pk)
    s.case_check_finish(actor=u["grid_worker"], case=case, passed=True, note="已核查")
    if state == "closed":
        return Case.objects.get(pk=case.pk)
    raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")


def cases_in_every_state(world: World) -> dict[str, Case]:
    """One case per state of :data:`STATES`, each checked to be where its name says."""
    cases = {state: case_in_state(world, state) for state in STATES}
    expected_status = {
        "return_requested": Status.DISPATCHED,
        "extension_requested": Status.PROCESSING,
        "hold_requested": Status.PROCESSING,
        "on_hold": Status.PROCESSING,
        "self_handled": Status.CLOSED,
    }
    pending = {
        "return_requested": RequestKind.RETURN,
        "extension_requested": RequestKind.EXTENSION,
        "hold_requested": RequestKind.HOLD,
        "self_handled": RequestKind.SELF_HANDLE,
    }
    for state, case in cases.items():
        assert case.status == expected_status.get(state, state), (state, case.status)
        if state in pending:
            assert case.requests.filter(state="pending", kind=pending[state]).exists(), state
    assert cases["on_hold"].is_on_hold
    return cases
