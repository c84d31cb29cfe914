"""Input and output schemas of the cases API, and the projections that fill them.

Inputs repeat the services' limits (lengths, ranges, enums) so a client learns them from the
OpenAPI document and gets a 400 naming the field before anything runs; the services check
again, because other callers do not pass through here.

Outputs are built by the ``*_out`` functions below, never from the model directly, so what a
viewer sees is decided in one place: personal data of the reporter in clear only to the
reporter and to the staff roles that need to call them back (:data:`PERSONAL_DATA_ROLES`).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from typing import Annotated, Any, NamedTuple

from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import (
    AwareDatetime,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from civicgrid.accounts.models import Organization, Role, User

from .attributes import AttributeDef, category_attributes
from .categories import CODE_MAX_LENGTH
from .models import (
    Action,
    Branch,
    CancelReason,
    Case,
    CasePhoto,
    CaseRequest,
    Category,
    Light,
    Nature,
    Satisfaction,
    Source,
    Status,
    Trace,
    Urgency,
)
from .services import MAX_DESCRIPTION, MAX_NOTE

MAX_PAGE_SIZE = 100
MAX_COMMENT = 1000
MAX_EXTENSION_MINUTES = 15 * 24 * 60
# Staff who call reporters back or decide on their reports see their name and phone in clear.
PERSONAL_DATA_ROLES = frozenset(
    {Role.OPERATOR, Role.SHIFT_LEADER, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMINISTRATOR}
)

Note = Annotated[str, Field(max_length=MAX_NOTE)]
CaseNumber = Annotated[str, Field(min_length=1, max_length=16)]
# Answers to a category's questions (Open311 attributes): a key or a text, several keys, a number.
AttributeAnswers = dict[str, str | list[str] | float | int]
MAX_ATTRIBUTE_ANSWERS = 50
PUBLIC_PAGE_SIZE = 20


# --------------------------------------------------------------------------- masking


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``: the first 3 and last 4 digits stay."""
    if not phone:
        return ""
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return phone[0] + "*" * (len(phone) - 1)


def mask_name(name: str) -> str:
    """``王小明`` → ``王**``; ``Li Lei`` → ``L*****``."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_email(email: str) -> str:
    """``zhang.wei@example.com`` → ``z***@example.com``: the first character and the domain stay;
    the stars are always three, so the length of the name is not told either."""
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return mask_name(email)
    return f"{local[0]}***@{domain}"


def sees_personal_data(viewer: User, case: Case) -> bool:
    return case.reporter_id == viewer.pk or (
        viewer.is_active and viewer.role in PERSONAL_DATA_ROLES
    )


# --------------------------------------------------------------------------- inputs


class PageIn(Schema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)


class CaseFiltersIn(PageIn):
    status: Status | None = None
    category: str | None = Field(None, max_length=20, description="A leaf or its parent's code.")
    unit: str | None = Field(None, max_length=40, description="The responsible unit's code.")
    overdue: bool | None = None
    light: Light | None = None


class DuplicatesIn(Schema):
    category: str = Field(min_length=1, max_length=20)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class CaseSubmitIn(Schema):
    category: str = Field(min_length=1, max_length=20, description="A leaf category's code.")
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lng: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    address: str = Field("", max_length=200)
    nature: Nature = Nature.REPORT
    urgency: Urgency = Urgency.NORMAL
    is_anonymous: bool = Field(False, description="Hide the reporter from the public.")
    source: Source | None = Field(None, description="Staff only; residents always report as such.")
    reporter_name: str = Field("", max_length=80, description="Staff only (hotline, patrol).")
    reporter_phone: str = Field("", max_length=20, description="Staff only (hotline, patrol).")
    asset_ref: str = Field("", max_length=40)
    attributes: AttributeAnswers = Field(
        default_factory=dict,
        max_length=MAX_ATTRIBUTE_ANSWERS,
        description=(
            "Answers to the category's questions (`GET /public/categories`), by question code: "
            "a value key or a text, a list of keys for a multivaluelist, a number, a date-time "
            "with its zone."
        ),
    )


class NoteIn(Schema):
    note: Note = ""


class AcceptIn(NoteIn):
    category: str | None = Field(None, max_length=20, description="Correct the category.")
    urgency: Urgency | None = Field(None, description="Correct the urgency.")


class CancelIn(NoteIn):
    reason: CancelReason | None = None
    duplicate_of: CaseNumber | None = Field(None, description="For reason=duplicate.")


class DispatchIn(NoteIn):
    unit: str | None = Field(
        None, max_length=40, description="A unit's code; empty: the routing matrix decides."
    )
    reason: Note = Field("", description="Required when sending to a unit other than the first.")


class TransferIn(Schema):
    unit: str = Field(min_length=1, max_length=40)
    reason: Note = ""


class ReasonIn(Schema):
    reason: Note = ""


class DecisionIn(NoteIn):
    approve: bool


class ExtensionIn(ReasonIn):
    extra_minutes: int = Field(ge=1, le=MAX_EXTENSION_MINUTES)


class RateIn(Schema):
    satisfaction: Satisfaction
    resolved: bool
    contacted: bool = True
    comment: str = Field("", max_length=MAX_COMMENT)


# --------------------------------------------------------------------------- outputs


class CategoryRefOut(Schema):
    code: str
    name: str
    name_en: str


class CategoryOut(CategoryRefOut):
    branch: Branch
    parent_code: str | None
    path: list[CategoryRefOut] = Field(description="Ancestors, root first.")


class UnitOut(Schema):
    code: str
    name: str
    name_en: str


class CaseOut(Schema):
    number: str
    status: Status
    category: CategoryRefOut
    nature: Nature
    urgency: Urgency
    source: Source
    description: str
    lat: float | None
    lng: float | None
    address: str
    cell_code: str | None
    unit: UnitOut | None
    light: Light
    deadline_at: dt.datetime | None
    reported_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    is_on_hold: bool
    is_overdue: bool
    is_supervised: bool
    follower_count: int
    rework_count: int
    transfer_count: int
    return_count: int
    extension_count: int
    attributes: AttributeAnswers = Field(description="Answers to the category's questions.")


class CasePublicOut(Schema):
    number: str
    status: Status
    category: CategoryRefOut
    description: str
    reported_at: dt.datetime
    follower_count: int


class ReporterOut(Schema):
    name: str
    phone: str
    email: str = Field("", description="Masked like the phone; left out when there is none.")
    is_masked: bool

    # No return annotation on purpose: with one, pydantic would document the schema as that
    # type instead of this model's fields.
    @model_serializer(mode="wrap")
    def _email_when_given(self, handler: SerializerFunctionWrapHandler):
        data = handler(self)
        if isinstance(data, dict) and not data.get("email"):
            data.pop("email", None)
        return data


class PhotoOut(Schema):
    id: int
    stage: str
    url: str = Field(description="The public copy (no EXIF); staff in scope get the original.")
    width: int
    height: int
    uploaded_at: dt.datetime


class RequestOut(Schema):
    kind: str
    reason: str
    extra_minutes: int | None
    requested_at: dt.datetime


class RatingOut(Schema):
    satisfaction: Satisfaction
    resolved: bool
    contacted: bool
    comment: str
    is_callback: bool
    rated_at: dt.datetime


class CaseDetailOut(CaseOut):
    is_anonymous: bool
    reporter: ReporterOut | None = Field(description="Masked unless the viewer may call back.")
    dispatched_at: dt.datetime | None
    processed_at: dt.datetime | None
    disposal_deadline_at: dt.datetime | None
    cancel_reason: str
    duplicate_of: str | None
    is_self_handled: bool
    photos: list[PhotoOut]
    pending_requests: list[RequestOut]
    rating: RatingOut | None


class CasePageOut(Schema):
    items: list[CaseOut]
    count: int
    page: int
    page_size: int


class TraceOut(Schema):
    action: str
    from_status: str
    to_status: str
    role: str
    actor: str | None = Field(description="Staff only; residents see the role and unit.")
    unit: UnitOut | None
    note: str
    started_at: dt.datetime | None
    deadline_at: dt.datetime | None
    finished_at: dt.datetime
    on_time: bool | None
    photos: list[PhotoOut]


class DuplicateOut(Schema):
    case: CasePublicOut
    distance_m: float


# --------------------------------------------------------------------------- projections


def category_ref_out(category: Category) -> CategoryRefOut:
    return CategoryRefOut(code=category.code, name=category.name, name_en=category.name_en)


def category_out(category: Category) -> CategoryOut:
    ancestors: list[Category] = []
    node = category.parent
    while node is not None:
        ancestors.append(node)
        node = node.parent
    ancestors.reverse()
    return CategoryOut(
        code=category.code,
        name=category.name,
        name_en=category.name_en,
        branch=Branch(category.branch),
        parent_code=category.parent.code if category.parent else None,
        path=[category_ref_out(a) for a in ancestors],
    )


def unit_out(unit: Organization | None) -> UnitOut | None:
    if unit is None:
        return None
    return UnitOut(code=unit.code, name=unit.name, name_en=unit.name_en)


def _case_fields(case: Case, now: dt.datetime) -> dict[str, object]:
    return {
        "number": case.number,
        "status": case.status,
        "category": category_ref_out(case.category),
        "nature": case.nature,
        "urgency": case.urgency,
        "source": case.source,
        "description": case.description,
        "lat": case.lat,
        "lng": case.lng,
        "address": case.address,
        "cell_code": case.cell.code if case.cell_id and case.cell else None,
        "unit": unit_out(case.unit),
        "light": case.light(now),
        "deadline_at": case.deadline_at,
        "reported_at": case.reported_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
        "is_on_hold": case.is_on_hold,
        "is_overdue": case.is_overdue,
        "is_supervised": case.is_supervised,
        "follower_count": case.follower_count,
        "rework_count": case.rework_count,
        "transfer_count": case.transfer_count,
        "return_count": case.return_count,
        "extension_count": case.extension_count,
        "attributes": case.attributes or {},
    }


def case_out(case: Case, *, now: dt.datetime) -> CaseOut:
    return CaseOut(**_case_fields(case, now))  # type: ignore[arg-type]


def case_public_out(case: Case) -> CasePublicOut:
    return CasePublicOut(
        number=case.number,
        status=Status(case.status),
        category=category_ref_out(case.category),
        description=case.description,
        reported_at=case.reported_at,
        follower_count=case.follower_count,
    )


def photo_out(photo: CasePhoto, *, case_number: str) -> PhotoOut:
    """``case_number`` is the photo's case's: passed in so that no photo loads its case."""
    return PhotoOut(
        id=photo.pk,
        stage=photo.stage,
        url=f"/api/v1/cases/{case_number}/photos/{photo.pk}",
        width=photo.width,
        height=photo.height,
        uploaded_at=photo.uploaded_at,
    )


def reporter_out(case: Case, viewer: User) -> ReporterOut | None:
    name, phone, email = case.reporter_name, case.reporter_phone, case.reporter_email
    if not name and not phone and not email:
        return None
    if sees_personal_data(viewer, case):
        return ReporterOut(name=name, phone=phone, email=email, is_masked=False)
    return ReporterOut(
        name=mask_name(name), phone=mask_phone(phone), email=mask_email(email), is_masked=True
    )


def request_out(req: CaseRequest) -> RequestOut:
    return RequestOut(
        kind=req.kind,
        reason=req.reason,
        extra_minutes=req.extra_minutes,
        requested_at=req.requested_at,
    )


def case_detail_out(
    case: Case,
    *,
    viewer: User,
    now: dt.datetime,
    photos: list[CasePhoto],
    pending: list[CaseRequest],
) -> CaseDetailOut:
    try:
        rating = case.rating
    except ObjectDoesNotExist:
        rating = None
    return CaseDetailOut(
        **_case_fields(case, now),  # type: ignore[arg-type]
        is_anonymous=case.is_anonymous,
        reporter=reporter_out(case, viewer),
        dispatched_at=case.dispatched_at,
        processed_at=case.processed_at,
        disposal_deadline_at=case.disposal_deadline_at,
        cancel_reason=case.cancel_reason,
        duplicate_of=case.duplicate_of.number
        if case.duplicate_of_id and case.duplicate_of
        else None,
        is_self_handled=case.is_self_handled,
        photos=[photo_out(p, case_number=case.number) for p in photos],
        pending_requests=[request_out(r) for r in pending],
        rating=(
            RatingOut(
                satisfaction=Satisfaction(rating.satisfaction),
                resolved=rating.resolved,
                contacted=rating.contacted,
                comment=rating.comment,
                is_callback=rating.is_callback,
                rated_at=rating.rated_at,
            )
            if rating is not None
            else None
        ),
    )


def trace_out(trace: Trace, *, viewer: User, case_number: str) -> TraceOut:
    """One step of a case's history; ``case_number`` is the trace's case's (for photo links)."""
    actor = None
    if viewer.is_staff_role and trace.actor is not None:
        actor = str(trace.actor)
    return TraceOut(
        action=trace.action,
        from_status=trace.from_status,
        to_status=trace.to_status,
        role=trace.role,
        actor=actor,
        unit=unit_out(trace.unit),
        note=trace.note,
        started_at=trace.started_at,
        deadline_at=trace.deadline_at,
        finished_at=trace.finished_at,
        on_time=trace.on_time,
        photos=[photo_out(p, case_number=case_number) for p in trace.photos.all()],
    )


# --------------------------------------------------------------------------- the public data API
#
# What anyone may read without logging in. Each output lists its fields one by one: the
# reporter (name, phone, email, account), staff names, notes, the address and the exact point of
# an anonymous report are never among them.

PUBLIC_CATEGORY_RE = r"^[A-Z]{1,4}(?:[0-9]{2})*$"
AREA_PREFIX_RE = r"^[0-9]{6,15}$"
_NUMBER = r"-?[0-9]{1,3}(?:\.[0-9]{1,15})?"
BBOX_RE = rf"^ *{_NUMBER} *(?:, *{_NUMBER} *){{3}}$"
# A '+' in a query string that was not percent-encoded arrives as a space: "…T09:30:00 08:00".
_UNENCODED_PLUS = re.compile(r"^(?P<stamp>.*T[0-9:.]+) (?P<offset>[0-9]{2}:?[0-9]{2})$")


class PublicState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class BBox(NamedTuple):
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


def parse_bbox(value: str) -> BBox:
    """``"116.45,39.92,116.46,39.93"`` → :class:`BBox`; ``ValueError`` naming what is wrong."""
    parts = value.split(",")
    if len(parts) != 4:
        raise ValueError(_("A bounding box is four numbers: min_lng,min_lat,max_lng,max_lat."))
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            _("A bounding box is four numbers: min_lng,min_lat,max_lng,max_lat.")
        ) from None
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError(_("The bounding box's numbers must be finite."))
    box = BBox(*numbers)
    if not (-180 <= box.min_lng <= box.max_lng <= 180):
        raise ValueError(_("Longitudes must be from -180 to 180, the smaller one first."))
    if not (-90 <= box.min_lat <= box.max_lat <= 90):
        raise ValueError(_("Latitudes must be from -90 to 90, the smaller one first."))
    return box


class PublicCaseFiltersIn(Schema):
    state: PublicState | None = Field(None, description="`open` or `closed`.")
    status: Status | None = None
    category: str | None = Field(
        None,
        max_length=CODE_MAX_LENGTH,
        pattern=PUBLIC_CATEGORY_RE,
        description="A category code; an inner node's code takes its whole subtree.",
    )
    area: str | None = Field(
        None,
        pattern=AREA_PREFIX_RE,
        description=(
            "A district (6 digits), street (9), community (12) or grid cell (15) code, "
            "or any prefix of a cell code of 6 to 15 digits."
        ),
    )
    since: AwareDatetime | None = Field(
        None, description="Reported at or after this date-time (with its zone)."
    )
    until: AwareDatetime | None = Field(
        None, description="Reported at or before this date-time (with its zone)."
    )
    bbox: str | None = Field(
        None,
        max_length=100,
        pattern=BBOX_RE,
        description=(
            "`min_lng,min_lat,max_lng,max_lat` (WGS84): cases whose public point is inside."
        ),
    )
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(PUBLIC_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _plus_sign(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _UNENCODED_PLUS.match(value.strip())
            if match is not None:
                return f"{match['stamp']}+{match['offset']}"
        return value

    @field_validator("since", "until")
    @classmethod
    def _in_range(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError(_("This date-time is out of range.")) from None

    @field_validator("until")
    @classmethod
    def _after_since(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        since = info.data.get("since")
        if value is not None and since is not None and value < since:
            raise ValueError(_("until must not be earlier than since."))
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bbox(value)
        return value

    @property
    def box(self) -> BBox | None:
        return parse_bbox(self.bbox) if self.bbox else None


class PublicCategoryRefOut(Schema):
    code: str
    name: str = Field(description="In the request's language.")


class PublicCaseOut(Schema):
    number: str
    status: Status
    state: PublicState
    category: PublicCategoryRefOut
    description: str
    reported_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    lat: float | None = Field(description="Rounded: 5 decimals, 3 for anonymous reports.")
    lng: float | None = Field(description="Rounded: 5 decimals, 3 for anonymous reports.")
    cell_code: str | None
    agency: str | None = Field(description="The responsible unit, once the case has one.")
    follower_count: int
    attributes: AttributeAnswers = Field(description="Answers to the category's questions.")


class PublicCasePageOut(Schema):
    items: list[PublicCaseOut]
    count: int
    page: int
    page_size: int


class PublicTraceOut(Schema):
    at: dt.datetime
    action: Action
    label: str = Field(description="The action in the request's language.")
    status_after: Status
    agency: str | None


class PublicCaseDetailOut(PublicCaseOut):
    timeline: list[PublicTraceOut]


class AttributeValueOut(Schema):
    key: str
    name: str = Field(description="In the request's language.")


class AttributeOut(Schema):
    code: str
    datatype: str = Field(
        description="string, text, number, datetime, singlevaluelist or multivaluelist."
    )
    required: bool
    variable: bool = Field(description="false: an informational line that takes no answer.")
    order: int
    description: str = Field(description="The question, in the request's language.")
    datatype_description: str = Field(description="A hint on the format.")
    values: list[AttributeValueOut]


class PublicCategoryOut(CategoryOut):
    attributes: list[AttributeOut] = Field(description="The questions asked when reporting.")


def _agency(unit: Organization | None) -> str | None:
    return unit.display_name if unit is not None else None


def public_case_out(case: Case) -> PublicCaseOut:
    lat, lng = case.public_point()
    return PublicCaseOut(
        number=case.number,
        status=Status(case.status),
        state=PublicState.OPEN if case.is_open else PublicState.CLOSED,
        category=PublicCategoryRefOut(code=case.category.code, name=case.category.display_name),
        description=case.description,
        reported_at=case.reported_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        lat=lat,
        lng=lng,
        cell_code=case.cell.code if case.cell_id and case.cell else None,
        agency=_agency(case.unit),
        follower_count=case.follower_count,
        attributes=case.attributes or {},
    )


def public_trace_out(trace: Trace) -> PublicTraceOut:
    action = Action(trace.action)
    return PublicTraceOut(
        at=trace.finished_at,
        action=action,
        label=str(action.label),
        status_after=Status(trace.to_status),
        agency=_agency(trace.unit),
    )


def public_case_detail_out(case: Case, *, timeline: list[Trace]) -> PublicCaseDetailOut:
    return PublicCaseDetailOut(
        **public_case_out(case).model_dump(),
        timeline=[public_trace_out(t) for t in timeline],
    )


def attribute_out(definition: AttributeDef) -> AttributeOut:
    return AttributeOut(
        code=definition.code,
        datatype=definition.datatype,
        required=definition.required,
        variable=definition.variable,
        order=definition.order,
        description=definition.display_description,
        datatype_description=definition.display_datatype_description,
        values=[AttributeValueOut(key=v.key, name=v.display_name) for v in definition.values],
    )


def public_category_out(category: Category) -> PublicCategoryOut:
    return PublicCategoryOut(
        **category_out(category).model_dump(),
        attributes=[attribute_out(d) for d in category_attributes(category)],
    )
