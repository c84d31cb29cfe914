"""The only way an id from a request becomes a Case. Missing and forbidden look the same."""

from __future__ import annotations

import enum

from django.utils.translation import gettext as _

from civicgrid.accounts.models import Role, User
from civicgrid.core.errors import ErrorKind

from .errors import CaseError
from .models import Case, Status


class Intent(enum.StrEnum):
    VIEW_PUBLIC = "view_public"  # the public projection: anyone, cancelled cases excluded
    VIEW = "view"  # the full record: staff in scope, the unit holding it, the reporter
    ACT = "act"  # a workflow step: staff in scope or the unit; the service checks the role


def _not_found(case_ref: object) -> CaseError:
    return CaseError(
        CaseError.Code.NOT_FOUND,
        _("No case %(ref)s.") % {"ref": case_ref},
        kind=ErrorKind.NOT_FOUND,
    )


def _staff_sees(actor: User, case: Case) -> bool:
    if actor.role == Role.ADMINISTRATOR:
        return True
    if actor.role == Role.UNIT_HANDLER:
        return actor.organization_id is not None and (
            case.unit_id == actor.organization_id
            or case.traces.filter(unit_id=actor.organization_id).exists()
        )
    code = case.cell.code if case.cell_id and case.cell else case.district_code
    return actor.is_staff_role and actor.covers_area(code)


def access_case_full_or_public(*, actor: User | None, case_ref: str | int) -> tuple[Case, bool]:
    """The case with ``True`` when the actor may see the full record, else with ``False`` for
    the public projection; NOT_FOUND when neither is allowed."""
    if actor is not None and actor.is_authenticated:
        try:
            return access_case(actor=actor, case_ref=case_ref, intent=Intent.VIEW), True
        except CaseError:
            pass
    return access_case(actor=actor, case_ref=case_ref, intent=Intent.VIEW_PUBLIC), False


def access_case(*, actor: User | None, case_ref: str | int, intent: Intent) -> Case:
    """Return the case named by ``case_ref`` (its number, or its id) if ``actor`` may use it
    for ``intent``; otherwise raise NOT_FOUND, whether it is missing or forbidden."""
    ref = str(case_ref).strip()
    if not ref.isascii() or not ref.isdigit() or len(ref) > 16:
        raise _not_found(case_ref)
    qs = Case.objects.select_related("category", "cell", "unit", "reporter")
    case = qs.filter(number=ref).first() if len(ref) >= 12 else qs.filter(pk=int(ref)).first()
    if case is None:
        raise _not_found(case_ref)
    is_user = actor is not None and actor.is_authenticated and actor.is_active
    if intent == Intent.VIEW_PUBLIC:
        staff_sees = is_user and _staff_sees(actor, case)  # type: ignore[arg-type]
        if case.status == Status.CANCELLED and not staff_sees:
            raise _not_found(case_ref)
        if not case.category.is_public and not staff_sees:
            raise _not_found(case_ref)  # internal categories stay off the public pages
        return case
    if not is_user:
        raise _not_found(case_ref)
    assert actor is not None
    if intent == Intent.VIEW and case.reporter_id == actor.pk:
        return case
    if intent == Intent.ACT and case.reporter_id == actor.pk:
        return case  # a reporter may check and rate; the service decides which steps
    if actor.is_staff_role and _staff_sees(actor, case):
        return case
    # A resident who follows sees the record (personal data stays masked when rendered). Staff
    # see what their role and area give them: following a case ("me too") never widens that.
    if (
        intent == Intent.VIEW
        and not actor.is_staff_role
        and case.followers.filter(user=actor).exists()
    ):
        return case
    raise _not_found(case_ref)
