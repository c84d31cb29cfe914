"""From civicgrid's records to GeoReport v2 fields: statuses, services, attributes, requests.

Every function here builds plain dicts and lists in the order the standard lists the fields;
:mod:`civicgrid.open311.render` turns them into XML or JSON. Nothing personal is read: the
reporter's name, phone, email and client reference never reach these dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.signing import BadSignature, Signer
from django.urls import reverse

from civicgrid.accounts.models import Organization
from civicgrid.cases.attributes import category_attributes
from civicgrid.cases.models import Action, CancelReason, Case, Category, Status, Trace
from civicgrid.core.datetimes import format_w3_datetime

OPEN = "open"
CLOSED = "closed"

# Every case status, collapsed to the two the standard knows. A test checks that no status is
# missing, so a status added to the workflow has to be placed here on purpose.
OPEN311_STATUS: dict[str, str] = {
    Status.REPORTED: OPEN,
    Status.ACCEPTED: OPEN,
    Status.VERIFIED: OPEN,
    Status.FILED: OPEN,
    Status.DISPATCHED: OPEN,
    Status.PROCESSING: OPEN,
    Status.PROCESSED: OPEN,
    Status.CHECKING: OPEN,
    Status.CLOSED: CLOSED,
    Status.EVALUATED: CLOSED,
    Status.CANCELLED: CLOSED,
}

Absolute = Callable[[str], str]  # a site path → an absolute URL (request.build_absolute_uri)
# Enum ``.values`` builds a new list on every access: once here, not once per listed request.
_ACTIONS = frozenset(Action.values)
_CANCEL_REASONS = frozenset(CancelReason.values)


def open311_status(status: str) -> str:
    return OPEN311_STATUS[status]


def statuses_for(open311_statuses: Sequence[str]) -> list[str]:
    """The case statuses behind Open311 ``open``/``closed`` values."""
    wanted = set(open311_statuses)
    return [status for status, shown in OPEN311_STATUS.items() if shown in wanted]


def unit_name(unit: Organization | None) -> str:
    """A unit's name in the request's language ("" without a unit)."""
    if unit is None:
        return ""
    return unit.display_name


def is_description_withheld(case: Case) -> bool:
    """A report cancelled as invalid (abuse, nonsense) is listed, but its text is not."""
    return case.status == Status.CANCELLED and case.cancel_reason == CancelReason.INVALID


# --------------------------------------------------------------------------- services


def service_fields(category: Category, ancestors: Sequence[Category]) -> dict[str, Any]:
    """One entry of ``GET services``: ``ancestors`` run from the root down to the parent."""
    parent = ancestors[-1] if ancestors else None
    return {
        "service_code": category.code,
        "service_name": category.display_name,
        "description": category.filing_condition.strip() or category.display_name,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join(a.display_name for a in ancestors),
        "group": parent.display_name if parent is not None else "",
    }


def definition_fields(category: Category) -> dict[str, Any]:
    """``GET services/{code}``: the category's questions as Open311 attributes."""
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": d.variable,
                "code": d.code,
                "datatype": d.datatype,
                "required": d.required,
                "datatype_description": d.display_datatype_description,
                "order": d.order,
                "description": d.display_description,
                "values": [{"key": v.key, "name": v.display_name} for v in d.values],
            }
            for d in category_attributes(category)
        ],
    }


# --------------------------------------------------------------------------- requests


def status_notes(case: Case) -> str:
    """Why the case is where it is: for a cancelled case the reason, else the label of its
    latest step (``open311_last_action``, annotated by the selector)."""
    if case.status == Status.CANCELLED and case.cancel_reason in _CANCEL_REASONS:
        return str(CancelReason(case.cancel_reason).label)
    action = getattr(case, "open311_last_action", None)
    if action in _ACTIONS:
        return str(Action(action).label)
    return ""


def media_url(case: Case, absolute: Absolute) -> str:
    """The first photo taken when reporting (its public copy, served by the case pages), else
    the link the client sent, else "". Cancelled cases have no public page, so their photos
    are not linked."""
    if case.status == Status.CANCELLED:
        return case.media_url or ""
    photo_id = getattr(case, "open311_photo_id", None)
    if photo_id is not None:
        path = reverse("web:case_photo", kwargs={"number": case.number, "photo_id": photo_id})
        return absolute(path)
    return case.media_url or ""


def request_fields(case: Case, *, absolute: Absolute, with_notes: bool = False) -> dict[str, Any]:
    """One service request, every standard field present and in the standard's order.

    ``lat``/``long`` come from :meth:`Case.public_point` (anonymous reports rounded to about
    100 m); ``None`` when the case has only an address. ``notes`` (the public timeline) is an
    extension, added only when asked for.
    """
    lat, lng = case.public_point()
    deadline = case.disposal_deadline_at or case.deadline_at
    fields: dict[str, Any] = {
        "service_request_id": case.number,
        "status": open311_status(case.status),
        "status_notes": status_notes(case),
        "service_name": case.category.display_name,
        "service_code": case.category.code,
        "description": "" if is_description_withheld(case) else case.description,
        "agency_responsible": unit_name(case.unit),
        "service_notice": "",
        "requested_datetime": format_w3_datetime(case.reported_at),
        "updated_datetime": format_w3_datetime(case.updated_at),
        "expected_datetime": format_w3_datetime(deadline),
        "address": case.address,
        "address_id": case.cell.code if case.cell is not None else "",
        "zipcode": "",
        "lat": lat,
        "long": lng,
        "media_url": media_url(case, absolute),
    }
    if with_notes:
        traces: list[Trace] = getattr(case, "open311_notes", [])
        fields["notes"] = [note_fields(t) for t in traces]
    return fields


def note_fields(trace: Trace) -> dict[str, Any]:
    """One step of the public timeline: when, the status after it, what happened and which
    unit held the case. Never who did it or the note they wrote."""
    return {
        "datetime": format_w3_datetime(trace.finished_at),
        "status": open311_status(trace.to_status),
        "action": trace.action,
        "summary": str(Action(trace.action).label) if trace.action in _ACTIONS else "",
        "agency": unit_name(trace.unit),
    }


def created_fields(case: Case, token: str) -> dict[str, Any]:
    """The answer to ``POST requests``. ``account_id`` stays empty: the standard echoes the
    submitter's account, and personal references never leave through Open311."""
    return {
        "service_request_id": case.number,
        "token": token,
        "service_notice": "",
        "account_id": "",
    }


# --------------------------------------------------------------------------- tokens

_TOKEN_SIGNER = Signer(salt="civicgrid.open311.request-token", sep=".")


def request_token(case: Case) -> str:
    """A URL-safe token for the case (its number, signed with the site's secret key): no
    column is stored, and a token cannot be forged for another number."""
    return _TOKEN_SIGNER.sign(case.number)


def token_number(token: str) -> str | None:
    """The case number a token names, or ``None`` if it is malformed or not signed by us."""
    try:
        return _TOKEN_SIGNER.unsign((token or "").strip())
    except BadSignature:
        return None
