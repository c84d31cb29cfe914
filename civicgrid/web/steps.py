"""Which workflow buttons a page shows to a user for a case.

Presentation only: it hides steps a user cannot take so pages stay uncluttered. The services in
civicgrid.cases.services still check role, area, unit and state on every call, so a step shown
by mistake is refused there, and a step hidden by mistake can still be posted.
"""

from __future__ import annotations

from civicgrid.accounts.models import Role, User
from civicgrid.cases.models import OPEN_STATUSES, Case, RequestKind, Status

# Every step a page can offer, in the order the forms appear on the case page.
ALL_STEPS = (
    "accept",
    "verify",
    "self_handle",
    "file",
    "dispatch",
    "transfer",
    "return_decide",
    "start",
    "process",
    "return_request",
    "extension_request",
    "hold_request",
    "extension_decide",
    "hold_decide",
    "self_handle_review",
    "resume",
    "check_start",
    "check_finish",
    "rate",
    "cancel",
    "follow",
)


def _area_code(case: Case) -> str:
    return case.cell.code if case.cell_id and case.cell else case.district_code


def _in_area(user: User, case: Case) -> bool:
    return user.role == Role.ADMINISTRATOR or user.covers_area(_area_code(case))


def _holds_case(user: User, case: Case) -> bool:
    return user.role == Role.ADMINISTRATOR or (
        case.unit_id is not None and user.organization_id == case.unit_id
    )


def _role_steps(role: str, case: Case, pending: set[str]) -> set[str]:
    """Steps the workflow gives ``role`` for the case's state and pending requests."""
    status = case.status
    steps: set[str] = set()
    if role == Role.OPERATOR:
        if status == Status.REPORTED:
            steps |= {"accept", "cancel"}
        if status == Status.CLOSED and not hasattr(case, "rating"):
            steps.add("rate")
    elif role == Role.GRID_WORKER:
        if status == Status.ACCEPTED:
            steps.add("verify")
        if status in (Status.REPORTED, Status.ACCEPTED):
            steps.add("self_handle")
        if status == Status.PROCESSED:
            steps.add("check_start")
        if status == Status.CHECKING:
            steps.add("check_finish")
    elif role == Role.SHIFT_LEADER:
        if status in (Status.ACCEPTED, Status.VERIFIED):
            steps.add("file")
        if status in (Status.REPORTED, Status.ACCEPTED, Status.VERIFIED, Status.FILED):
            steps.add("cancel")
        if RequestKind.SELF_HANDLE in pending:
            steps.add("self_handle_review")
    elif role in (Role.DISPATCHER, Role.SUPERVISOR):
        if status == Status.FILED:
            steps.add("dispatch")
        if status in (Status.DISPATCHED, Status.PROCESSING):
            steps.add("transfer")
        if status == Status.DISPATCHED and RequestKind.RETURN in pending:
            steps.add("return_decide")
    elif role == Role.UNIT_HANDLER:
        if status == Status.DISPATCHED:
            steps |= {"start"}
            if RequestKind.RETURN not in pending:
                steps.add("return_request")
        if status in (Status.DISPATCHED, Status.PROCESSING):
            if not case.is_on_hold:
                steps.add("process")
                if RequestKind.HOLD not in pending:
                    steps.add("hold_request")
            if RequestKind.EXTENSION not in pending:
                steps.add("extension_request")
    if role in (Role.SHIFT_LEADER, Role.SUPERVISOR) and status in (
        Status.DISPATCHED,
        Status.PROCESSING,
    ):
        if RequestKind.EXTENSION in pending:
            steps.add("extension_decide")
        if RequestKind.HOLD in pending:
            steps.add("hold_decide")
    if role in (Role.SHIFT_LEADER, Role.SUPERVISOR, Role.UNIT_HANDLER) and case.is_on_hold:
        steps.add("resume")
    return steps


def available_steps(user: User | None, case: Case, *, pending: set[str] | None = None) -> list[str]:
    """The step names (see ALL_STEPS) to offer ``user`` on ``case``, in page order.

    ``pending`` is the set of RequestKind values with a pending request on the case; it is read
    from the case when not given.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if pending is None:
        pending = {r.kind for r in case.requests.filter(state="pending")}
    steps: set[str] = set()
    if user.role == Role.ADMINISTRATOR:
        for role in Role:
            steps |= _role_steps(role, case, pending)
    elif user.role == Role.UNIT_HANDLER:
        if _holds_case(user, case):
            steps |= _role_steps(user.role, case, pending)
    elif user.is_staff_role and _in_area(user, case):
        steps |= _role_steps(user.role, case, pending)
    if case.reporter_id == user.pk and case.status == Status.CLOSED and not hasattr(case, "rating"):
        steps.add("rate")
    if (
        user.role == Role.RESIDENT
        and case.reporter_id != user.pk
        and case.status in OPEN_STATUSES
        and not case.followers.filter(user=user).exists()
    ):
        steps.add("follow")
    return [step for step in ALL_STEPS if step in steps]
