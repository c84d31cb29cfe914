"""The only writers of the cases app: submission and every step of the closed loop.

Every step:
- runs in one transaction and locks the case row first (``SELECT ... FOR UPDATE``), then checks
  the state, so of two racing requests exactly one wins and the other gets WRONG_STATE;
- is allowed only to the role the workflow names (administrators may do any step) and only
  within the actor's area or unit;
- writes exactly one :class:`Trace` row per state change and exactly one audit record;
- restarts the step clock (deadline, warning time) in working or natural time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.models import (
    ClientKey,
    Notification,
    Organization,
    OrganizationKind,
    Role,
    User,
)
from civicgrid.core import readcache
from civicgrid.core.errors import ErrorKind
from civicgrid.core.ids import next_daily_sequence
from civicgrid.core.services import audit_record
from civicgrid.core.worktime import work_calendar
from civicgrid.geo.models import GridCell

from .attributes import check_attribute_answers
from .errors import CaseError
from .models import (
    OPEN_STATUSES,
    Action,
    CancelReason,
    Case,
    CasePhoto,
    CaseRequest,
    Category,
    Clock,
    Follower,
    Nature,
    PhotoStage,
    Rating,
    RequestKind,
    RequestState,
    RoutingRule,
    Satisfaction,
    Source,
    Status,
    TimeLimit,
    Trace,
    Urgency,
)
from .notifications import EVENT_CASE_OVERDUE
from .photos import CheckedPhoto

MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 500
MAX_NOTE = 2000
LEADER_ROLES = (Role.SHIFT_LEADER, Role.SUPERVISOR)

# Default limits of the intake and check steps (minutes); disposal limits come per category.
DEFAULT_STEP_LIMITS: dict[str, int] = {
    "accept": 10,
    "verify": 30,
    "file": 30,
    "file_urgent": 10,
    "dispatch": 30,
    "dispatch_urgent": 10,
    "check": 60,
    "close": 30,
    "rate": 3 * 420,
    "disposal_default": 420,
}


def step_limit(name: str) -> int:
    limits = {**DEFAULT_STEP_LIMITS, **getattr(settings, "CIVICGRID_STEP_LIMITS", {})}
    return int(limits[name])


def _urgency_limit(case: Case, step: str) -> int:
    """The limit of a filing or dispatch step: shorter for urgent cases."""
    return step_limit(f"{step}_urgent" if case.urgency == Urgency.URGENT else step)


# --------------------------------------------------------------------------- helpers


def _now() -> dt.datetime:
    return timezone.now()


def _add_time(start: dt.datetime, minutes: float, clock: str) -> dt.datetime:
    if clock == Clock.NATURAL:
        return start + dt.timedelta(minutes=minutes)
    return work_calendar().add_working_minutes(start, minutes)


def _minutes_between(start: dt.datetime, end: dt.datetime, clock: str) -> float:
    if clock == Clock.NATURAL:
        return (end - start).total_seconds() / 60
    return work_calendar().working_minutes_between(start, end)


def _intake_clock(case: Case) -> str:
    return Clock.NATURAL if case.urgency == Urgency.URGENT else Clock.WORKING


def _start_step(case: Case, now: dt.datetime, limit_minutes: int | None, clock: str) -> None:
    """Restart the case's step clock; ``None`` stops it (finished states)."""
    case.step_started_at = now
    case.step_limit_minutes = limit_minutes
    case.step_clock = clock
    case.is_overdue = False
    if limit_minutes is None:
        case.deadline_at = None
        case.warning_at = None
        return
    case.deadline_at = _add_time(now, limit_minutes, clock)
    case.warning_at = _add_time(now, limit_minutes * 0.8, clock)


# How each input field is named in messages (the field key itself goes to the client).
FIELD_LABELS = {
    "reason": gettext_lazy("reason"),
    "note": gettext_lazy("note"),
    "description": gettext_lazy("description"),
    "address": gettext_lazy("address"),
    "comment": gettext_lazy("comment"),
    "reporter_name": gettext_lazy("reporter's name"),
    "reporter_phone": gettext_lazy("reporter's phone"),
    "nature": gettext_lazy("nature"),
    "urgency": gettext_lazy("urgency"),
    "source": gettext_lazy("source"),
    "satisfaction": gettext_lazy("satisfaction"),
}


def _label(field: str) -> str:
    return str(FIELD_LABELS.get(field, field))


def _clean_text(value: str | None, *, field: str, max_length: int, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        code = CaseError.Code.REASON_REQUIRED if field == "reason" else CaseError.Code.NOTE_REQUIRED
        raise CaseError(
            code, _("Please fill in %(field)s.") % {"field": _label(field)}, field=field
        )
    if len(text) > max_length:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("%(field)s is too long: %(n)s characters, at most %(max)s.")
            % {"field": _label(field), "n": len(text), "max": max_length},
            field=field,
        )
    return text


def _require_role(actor: User | None, *roles: str) -> User:
    if actor is None or not actor.is_authenticated or not actor.has_role(*roles):
        raise CaseError(
            CaseError.Code.WRONG_ROLE,
            _("This step is for: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in roles)},
            kind=ErrorKind.FORBIDDEN,
        )
    return actor


def _require_area(actor: User, case: Case) -> None:
    code = case.cell.code if case.cell_id and case.cell else case.district_code
    if actor.role != Role.ADMINISTRATOR and not actor.covers_area(code):
        raise CaseError(
            CaseError.Code.WRONG_ROLE,
            _("This case is outside your area of responsibility."),
            kind=ErrorKind.FORBIDDEN,
        )


def _require_unit(actor: User, case: Case) -> None:
    if actor.role != Role.ADMINISTRATOR and (
        case.unit_id is None or actor.organization_id != case.unit_id
    ):
        raise CaseError(
            CaseError.Code.WRONG_ROLE,
            _("This case is not assigned to your unit."),
            kind=ErrorKind.FORBIDDEN,
        )


def _require_status(case: Case, *statuses: str) -> None:
    if case.status not in statuses:
        raise CaseError(
            CaseError.Code.WRONG_STATE,
            _("Case %(number)s is %(status)s; this step needs it to be %(needed)s.")
            % {
                "number": case.number,
                "status": Status(case.status).label,
                "needed": " / ".join(str(Status(s).label) for s in statuses),
            },
            kind=ErrorKind.CONFLICT,
        )


# What callers render from the case a service returns (the API answers with the full record):
# read with the case (under the lock in a step) so that no answer loads them one by one.
_ANSWER_JOINS = ("cell", "category", "unit", "rating")


def _lock(case: Case) -> Case:
    """Re-read the case under a row lock; the state checks run on this fresh copy.

    Only the case row is locked (``of=("self",)``). The joined rows come from the statement's
    snapshot: on PostgreSQL a lock that had to wait sees the case row as the other transaction
    left it, but not rows that transaction added elsewhere (a rating). So state checks read the
    case's own columns; the joins are for rendering and for checks that cannot change under the
    lock (the rating is only written by :func:`case_rate`, which also moves the case).
    """
    return (
        Case.objects.select_for_update(of=("self",)).select_related(*_ANSWER_JOINS).get(pk=case.pk)
    )


def _rating_of(case: Case) -> Rating | None:
    try:
        return case.rating
    except Rating.DoesNotExist:
        return None


def _write_trace(
    case: Case,
    *,
    action: str,
    from_status: str,
    actor: User | None,
    now: dt.datetime,
    note: str = "",
    unit: Organization | None = None,
    data: dict[str, Any] | None = None,
) -> Trace:
    on_time = None if case.deadline_at is None else now <= case.deadline_at
    readcache.bump(readcache.CASES)  # every step changes what public lists show
    return Trace.objects.create(
        case=case,
        district_code=case.district_code,
        action=action,
        from_status=from_status,
        to_status=case.status,
        actor=actor if actor is not None and actor.is_authenticated else None,
        role=getattr(actor, "role", "") or "",
        unit=unit if unit is not None else case.unit,
        note=note,
        started_at=case.step_started_at,
        deadline_at=case.deadline_at,
        finished_at=now,
        on_time=on_time,
        data=data or {},
    )


CASE_FIELDS_MOVED = [
    "status",
    "updated_at",
    "step_started_at",
    "step_limit_minutes",
    "step_clock",
    "warning_at",
    "deadline_at",
    "is_overdue",
]


def _move(
    case: Case,
    *,
    actor: User | None,
    action: str,
    to_status: str,
    now: dt.datetime,
    next_limit: int | None,
    next_clock: str | None = None,
    note: str = "",
    extra_fields: Sequence[str] = (),
    data: dict[str, Any] | None = None,
    trace_unit: Organization | None = None,
    starts_disposal: bool = False,
) -> Trace:
    """Close the current step (trace row), enter ``to_status`` and start its clock, in one
    UPDATE of the case. ``starts_disposal``: the new step is the unit's disposal, whose
    deadline is also kept as ``disposal_deadline_at``."""
    from_status = case.status
    case.status = to_status
    trace = _write_trace(
        case,
        action=action,
        from_status=from_status,
        actor=actor,
        now=now,
        note=note,
        unit=trace_unit,
        data=data,
    )
    case.updated_at = now
    _start_step(case, now, next_limit, next_clock or _intake_clock(case))
    fields = [*CASE_FIELDS_MOVED, *extra_fields]
    if starts_disposal:
        case.disposal_deadline_at = case.deadline_at
        fields.append("disposal_deadline_at")
    case.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=f"case.{action}",
        target=case,
        data={"number": case.number, "from": from_status, "to": to_status, **(data or {})},
    )
    return trace


def _mark_in_place(
    case: Case,
    *,
    actor: User | None,
    action: str,
    now: dt.datetime,
    note: str = "",
    fields: Sequence[str] = (),
    data: dict[str, Any] | None = None,
) -> Trace:
    """A step that changes flags or the clock but not the state (hold, extension, escalation)."""
    trace = _write_trace(
        case, action=action, from_status=case.status, actor=actor, now=now, note=note, data=data
    )
    case.updated_at = now
    case.save(update_fields=["updated_at", *fields])
    audit_record(
        actor=actor,
        action=f"case.{action}",
        target=case,
        data={"number": case.number, **(data or {})},
    )
    return trace


def _attach_photos(
    case: Case,
    *,
    photos: Iterable[CheckedPhoto],
    stage: str,
    trace: Trace | None,
    actor: User | None,
    now: dt.datetime,
) -> list[CasePhoto]:
    saved = []
    for index, photo in enumerate(photos, start=1):
        base = f"{case.number}-{stage}-{now:%H%M%S}-{index}"
        ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[photo.content_type]
        obj = CasePhoto(
            case=case,
            trace=trace,
            stage=stage,
            content_type=photo.content_type,
            size_bytes=len(photo.original),
            width=photo.width,
            height=photo.height,
            uploaded_by=actor if actor is not None and actor.is_authenticated else None,
            uploaded_at=now,
        )
        obj.original.save(f"{base}-orig.{ext}", ContentFile(photo.original), save=False)
        obj.public.save(f"{base}.jpg", ContentFile(photo.public), save=False)
        obj.save()
        saved.append(obj)
    return saved


def _notify(
    users: Iterable[User],
    *,
    event: str,
    params: dict[str, Any],
    link: str,
    dedupe_key: str,
    now: dt.datetime,
) -> int:
    """One notification of ``event`` per user (read in each reader's language: see
    ``cases/apps.py`` for how case events read)."""
    rows = [
        Notification(
            user=u, event=event, params=params, link=link, dedupe_key=dedupe_key, created_at=now
        )
        for u in users
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _supervisors_for(case: Case) -> list[User]:
    code = case.cell.code if case.cell_id and case.cell else case.district_code
    users = User.objects.filter(role=Role.SUPERVISOR, is_active=True)
    return [u for u in users if u.covers_area(code)]


# --------------------------------------------------------------------------- validation


def validate_location(lat: Any, lng: Any) -> tuple[float | None, float | None]:
    """Both coordinates or neither; numbers in range. Returns floats."""
    if lat in (None, "") and lng in (None, ""):
        return None, None
    if lat in (None, "") or lng in (None, ""):
        field = "lat" if lat in (None, "") else "lng"
        raise CaseError(
            CaseError.Code.BAD_LOCATION,
            _("Give both latitude and longitude, or neither."),
            field=field,
        )
    try:
        flat, flng = float(lat), float(lng)
    except (TypeError, ValueError):
        raise CaseError(
            CaseError.Code.BAD_LOCATION, _("Latitude and longitude must be numbers."), field="lat"
        ) from None
    if not math.isfinite(flat) or not -90 <= flat <= 90:
        raise CaseError(
            CaseError.Code.BAD_LOCATION,
            _("Latitude %(v)s is out of range (-90 to 90).") % {"v": lat},
            field="lat",
        )
    if not math.isfinite(flng) or not -180 <= flng <= 180:
        raise CaseError(
            CaseError.Code.BAD_LOCATION,
            _("Longitude %(v)s is out of range (-180 to 180).") % {"v": lng},
            field="lng",
        )
    return flat, flng


def _cell_for(lat: float | None, lng: float | None) -> GridCell | None:
    if lat is None or lng is None:
        return None
    from civicgrid.geo.locate import locate

    cell = locate(lat, lng)
    if cell is None:
        raise CaseError(
            CaseError.Code.OUTSIDE_GRID,
            _("This point (%(lat).5f, %(lng).5f) is outside the area this platform serves.")
            % {"lat": lat, "lng": lng},
            field="location",
        )
    return cell


def _choice(value: str, choices: type, field: str) -> str:
    if value not in choices.values:  # type: ignore[attr-defined]
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("%(value)r is not a valid %(field)s.") % {"value": value, "field": _label(field)},
            field=field,
        )
    return value


def _leaf_category(category: Category | str | int, *, public_only: bool) -> Category:
    if isinstance(category, Category):
        obj: Category | None = category
    else:
        qs = Category.objects.filter(is_active=True)
        obj = qs.filter(code=str(category)).first() or (
            qs.filter(pk=int(category)).first() if str(category).isdigit() else None
        )
    if (
        obj is None
        or not obj.is_active
        or obj.children.exists()
        or (public_only and not obj.is_public)
    ):
        raise CaseError(
            CaseError.Code.UNKNOWN_CATEGORY,
            _("Unknown category %(code)s.") % {"code": category},
            field="category",
        )
    return obj


# --------------------------------------------------------------------------- routing


def route_case(case: Case) -> Organization | None:
    """The unit the responsibility matrix names for the case.

    Order: the rule for (cell, category), the category-wide rule, the category's default unit,
    then the nearest ancestor category's default unit. ``None`` leaves the choice to the
    dispatcher.

    The two rules are read in one query: there is at most one of each (unique constraints),
    and the cell's rule sorts first.
    """
    cells = Q(cell__isnull=True)
    if case.cell_id:
        cells |= Q(cell_id=case.cell_id)
    rule = (
        RoutingRule.objects.filter(cells, category_id=case.category_id)
        .select_related("unit")
        .order_by(F("cell_id").asc(nulls_last=True))
        .first()
    )
    if rule:
        return rule.unit
    category: Category | None = case.category
    while category is not None:
        if category.default_unit_id:
            return category.default_unit
        category = category.parent
    return None


def disposal_limit(case: Case) -> tuple[int, str]:
    """(minutes, clock) for disposal: the category's profile for the case's urgency."""
    limit = TimeLimit.objects.filter(category_id=case.category_id, urgency=case.urgency).first()
    if limit is not None:
        return limit.limit_minutes, limit.clock
    clock = Clock.NATURAL if case.urgency == Urgency.URGENT else Clock.WORKING
    minutes = 120 if case.urgency == Urgency.URGENT else step_limit("disposal_default")
    return minutes, clock


# --------------------------------------------------------------------------- submission


@dataclass(frozen=True)
class Submission:
    case: Case
    created: bool


def _submitted(submission_key: str) -> Case | None:
    """The case an earlier submission with this key created, with what its answer renders."""
    return Case.objects.select_related(*_ANSWER_JOINS).filter(submission_key=submission_key).first()


def case_submit(
    *,
    actor: User | None,
    category: Category | str | int,
    description: str,
    lat: Any = None,
    lng: Any = None,
    address: str = "",
    nature: str = Nature.REPORT,
    urgency: str = Urgency.NORMAL,
    source: str = Source.RESIDENT,
    photos: Sequence[CheckedPhoto] = (),
    is_anonymous: bool = False,
    reporter_name: str = "",
    reporter_phone: str = "",
    submission_key: str | None = None,
    client_ref: str = "",
    asset_ref: str = "",
    reported_at: dt.datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
    media_url: str = "",
    client_key: ClientKey | None = None,
    reporter_email: str = "",
) -> Submission:
    """Create a case in state ``reported`` with its first trace row and audit record.

    Validates everything before writing. The point is located in a grid cell; a point outside
    every cell is refused. ``submission_key`` makes retries idempotent: the same key returns
    the case already created (``created=False``) instead of a second one.

    ``attributes`` answers the category's extra questions (checked by
    :func:`check_attribute_answers`); ``media_url`` is a photo link an Open311 client sent
    (stored, never fetched); ``client_key`` records which Open311 key submitted the case.
    """
    if submission_key is not None:
        submission_key = submission_key.strip()[:80] or None
        if submission_key:
            existing = _submitted(submission_key)
            if existing is not None:
                return Submission(existing, False)
    public_only = source in (Source.RESIDENT, Source.OPEN311)
    cat = _leaf_category(category, public_only=public_only)
    text = _clean_text(description, field="description", max_length=MAX_DESCRIPTION, required=True)
    addr = _clean_text(address, field="address", max_length=200, required=False)
    flat, flng = validate_location(lat, lng)
    if flat is None and not addr:
        raise CaseError(
            CaseError.Code.BAD_LOCATION,
            _("Mark the place on the map or give an address."),
            field="location",
        )
    _choice(nature, Nature, "nature")
    _choice(urgency, Urgency, "urgency")
    _choice(source, Source, "source")
    name = _clean_text(reporter_name, field="reporter_name", max_length=80, required=False)
    phone = _clean_text(reporter_phone, field="reporter_phone", max_length=20, required=False)
    answers = check_attribute_answers(cat, attributes)
    link = _clean_media_url(media_url)
    email = _clean_email(reporter_email)
    cell = _cell_for(flat, flng)
    try:
        with transaction.atomic():
            case = _create_case(
                actor=actor,
                cat=cat,
                text=text,
                lat=flat,
                lng=flng,
                addr=addr,
                cell=cell,
                nature=nature,
                urgency=urgency,
                source=source,
                photos=photos,
                is_anonymous=is_anonymous,
                name=name,
                phone=phone,
                submission_key=submission_key,
                client_ref=client_ref[:80],
                asset_ref=asset_ref[:40],
                reported_at=reported_at,
                extra={
                    "attributes": answers,
                    "media_url": link,
                    "client_key": client_key,
                    "reporter_email": email,
                },
            )
    except IntegrityError:
        if submission_key:
            existing = _submitted(submission_key)
            if existing is not None:
                return Submission(existing, False)
        raise
    return Submission(case, True)


def _create_case(
    *,
    actor: User | None,
    cat: Category,
    text: str,
    lat: float | None,
    lng: float | None,
    addr: str,
    cell: GridCell | None,
    nature: str,
    urgency: str,
    source: str,
    photos: Sequence[CheckedPhoto],
    is_anonymous: bool,
    name: str,
    phone: str,
    submission_key: str | None,
    client_ref: str,
    asset_ref: str,
    reported_at: dt.datetime | None,
    extra: dict[str, Any],
) -> Case:
    now = reported_at or _now()
    local_day = timezone.localdate(now)
    seq = next_daily_sequence(name="case", day=local_day)
    is_user = actor is not None and actor.is_authenticated
    case = Case(
        number=f"{local_day:%Y%m%d}{seq:04d}",
        district_code=cell.code[:6] if cell else settings.CIVICGRID_DISTRICT_CODE,
        category=cat,
        nature=nature,
        urgency=urgency,
        source=source,
        status=Status.REPORTED,
        description=text,
        lat=lat,
        lng=lng,
        address=addr,
        cell=cell,
        reporter=actor if is_user else None,
        reporter_name=name or (actor.display_name if is_user and actor else ""),
        reporter_phone=phone or (actor.phone if is_user and actor else ""),
        is_anonymous=is_anonymous,
        submission_key=submission_key,
        client_ref=client_ref,
        asset_ref=asset_ref,
        reported_at=now,
        updated_at=now,
        **extra,
    )
    _start_step(case, now, step_limit("accept"), _intake_clock(case))
    # Field checks only (lengths, choices): every input was checked above and the related rows
    # were read by this module. Uniqueness (the number comes from the daily counter) and the
    # CHECK constraints are the database's to enforce at INSERT, where a violation rolls the
    # whole submission back; asking it beforehand cost eight queries per report.
    case.full_clean(
        exclude=["submission_key", "number", "category", "cell", "client_key", "reporter"],
        validate_unique=False,
        validate_constraints=False,
    )
    case.save()
    readcache.bump(readcache.CASES)
    trace = Trace.objects.create(
        case=case,
        district_code=case.district_code,
        action=Action.SUBMIT,
        from_status="",
        to_status=Status.REPORTED,
        actor=actor if is_user else None,
        role=getattr(actor, "role", "") if is_user else "",
        note="",
        started_at=now,
        deadline_at=None,
        finished_at=now,
        on_time=None,
        data={"source": source},
    )
    _attach_photos(case, photos=photos, stage=PhotoStage.REPORT, trace=trace, actor=actor, now=now)
    audit_record(
        actor=actor,
        action="case.submit",
        target=case,
        data={
            "number": case.number,
            "category": cat.code,
            "source": source,
            **({"client_key": case.client_key.prefix} if case.client_key else {}),
        },
    )
    return case


def _clean_email(value: str | None) -> str:
    """A reporter's email address (kept for replies, masked like the phone number)."""
    email = (value or "").strip()
    if not email:
        return ""
    try:
        if len(email) > 120:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("%(value)s is not an email address of at most 120 characters.")
            % {"value": email[:40]},
            field="email",
        ) from None
    return email


def _clean_media_url(value: str | None) -> str:
    """A photo link sent by a client: http(s), at most 500 characters. Stored, never fetched."""
    link = (value or "").strip()
    if not link:
        return ""
    if len(link) > MAX_MEDIA_URL:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("The media URL is %(length)d characters long; at most %(max)d are allowed.")
            % {"length": len(link), "max": MAX_MEDIA_URL},
            field="media_url",
        )
    try:
        URLValidator(schemes=["http", "https"])(link)
    except ValidationError:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("The media URL must be an http or https address."),
            field="media_url",
        ) from None
    return link


# --------------------------------------------------------------------------- intake steps


@transaction.atomic
def case_accept(
    *,
    actor: User,
    case: Case,
    note: str = "",
    category: Category | str | None = None,
    urgency: str | None = None,
) -> Case:
    """Operator accepts a reported case (reported → accepted), optionally correcting the
    category or urgency. Starts the verification/filing clock."""
    _require_role(actor, Role.OPERATOR)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.REPORTED)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=False)
    extra: list[str] = []
    data: dict[str, Any] = {}
    if category is not None:
        cat = _leaf_category(category, public_only=False)
        if cat.pk != case.category_id:
            data["category"] = cat.code
            case.category = cat
            extra.append("category")
    if urgency is not None and urgency != case.urgency:
        case.urgency = _choice(urgency, Urgency, "urgency")
        data["urgency"] = urgency
        extra.append("urgency")
    limit = _urgency_limit(case, "file")
    _move(
        case,
        actor=actor,
        action=Action.ACCEPT,
        to_status=Status.ACCEPTED,
        now=_now(),
        next_limit=limit,
        note=text,
        extra_fields=extra,
        data=data,
    )
    return case


@transaction.atomic
def case_cancel(
    *,
    actor: User,
    case: Case,
    reason: str,
    note: str = "",
    duplicate_of: Case | None = None,
) -> Case:
    """Cancel a case that is invalid, a duplicate or not ours (end state ``cancelled``).

    A reason is required; a duplicate must name the case it duplicates, whose follower count
    the reporter then joins.
    """
    _require_role(actor, Role.OPERATOR, Role.SHIFT_LEADER)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.REPORTED, Status.ACCEPTED, Status.VERIFIED, Status.FILED)
    if reason not in CancelReason.values:
        raise CaseError(
            CaseError.Code.REASON_REQUIRED,
            _("Choose why the case is cancelled: invalid, duplicate or not ours."),
            field="reason",
        )
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=reason != "duplicate")
    extra = ["cancel_reason", "closed_at"]
    data: dict[str, Any] = {"reason": reason}
    if reason == CancelReason.DUPLICATE:
        if duplicate_of is None or duplicate_of.pk == case.pk:
            raise CaseError(
                CaseError.Code.REASON_REQUIRED,
                _("Name the case this one duplicates."),
                field="duplicate_of",
            )
        case.duplicate_of = duplicate_of
        extra.append("duplicate_of")
        data["duplicate_of"] = duplicate_of.number
    now = _now()
    case.cancel_reason = reason
    case.closed_at = now
    _move(
        case,
        actor=actor,
        action=Action.CANCEL,
        to_status=Status.CANCELLED,
        now=now,
        next_limit=None,
        note=text,
        extra_fields=extra,
        data=data,
    )
    if duplicate_of is not None and case.reporter_id:
        _add_follower(duplicate_of, user_id=case.reporter_id, now=now)
    return case


@transaction.atomic
def case_verify(*, actor: User, case: Case, note: str, photos: Sequence[CheckedPhoto] = ()) -> Case:
    """Grid worker confirms on site (accepted → verified). A note of what was found is required."""
    _require_role(actor, Role.GRID_WORKER)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.ACCEPTED)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=True)
    now = _now()
    limit = _urgency_limit(case, "file")
    trace = _move(
        case,
        actor=actor,
        action=Action.VERIFY,
        to_status=Status.VERIFIED,
        now=now,
        next_limit=limit,
        note=text,
    )
    _attach_photos(case, photos=photos, stage=PhotoStage.CHECK, trace=trace, actor=actor, now=now)
    return case


@transaction.atomic
def case_file(*, actor: User, case: Case, note: str = "") -> Case:
    """Shift leader files the case (accepted/verified → filed); the dispatch clock starts."""
    _require_role(actor, Role.SHIFT_LEADER)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.ACCEPTED, Status.VERIFIED)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=False)
    limit = _urgency_limit(case, "dispatch")
    _move(
        case,
        actor=actor,
        action=Action.FILE,
        to_status=Status.FILED,
        now=_now(),
        next_limit=limit,
        note=text,
    )
    return case


def _resolve_unit(unit: Organization | str | int | None, case: Case) -> Organization:
    if unit is None:
        found = route_case(case)
    elif isinstance(unit, Organization):
        found = unit
    else:
        qs = Organization.objects.filter(is_active=True)
        found = qs.filter(code=str(unit)).first() or (
            qs.filter(pk=int(unit)).first() if str(unit).isdigit() else None
        )
    if found is None or not found.is_unit or not found.is_active:
        raise CaseError(
            CaseError.Code.UNKNOWN_UNIT,
            _("Choose a department or contractor to dispatch to."),
            field="unit",
        )
    return found


def _check_transfer_allowed(actor: User, case: Case) -> None:
    """The ball stops at the street office: past the transfer limit only it may move the case."""
    if case.transfer_count < settings.CIVICGRID_MAX_TRANSFERS:
        return
    org = actor.organization
    decides = actor.role == Role.ADMINISTRATOR or (
        actor.role == Role.SUPERVISOR
        and org is not None
        and org.kind == OrganizationKind.STREET_OFFICE
    )
    if not decides:
        raise CaseError(
            CaseError.Code.TRANSFER_LIMIT,
            _(
                "Case %(number)s has been transferred %(n)s times already; "
                "the street office must decide who handles it."
            )
            % {"number": case.number, "n": case.transfer_count},
            kind=ErrorKind.FORBIDDEN,
        )


@transaction.atomic
def case_dispatch(
    *,
    actor: User,
    case: Case,
    unit: Organization | str | int | None = None,
    note: str = "",
    reason: str = "",
) -> Case:
    """Dispatch a filed case to a unit (filed → dispatched); the disposal clock starts.

    Without ``unit`` the routing matrix decides. Sending a case that a unit returned to a
    *different* unit is a transfer: it needs a reason and counts towards the transfer limit.
    """
    _require_role(actor, Role.DISPATCHER, Role.SUPERVISOR)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.FILED)
    target = _resolve_unit(unit, case)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=False)
    is_transfer = case.first_unit_id is not None and case.first_unit_id != target.pk
    data: dict[str, Any] = {"unit": target.code}
    extra = ["unit", "dispatched_at"]
    if is_transfer:
        why = _clean_text(reason, field="reason", max_length=MAX_NOTE, required=True)
        _check_transfer_allowed(actor, case)
        case.transfer_count += 1
        extra.append("transfer_count")
        data["reason"] = why
        text = text or why
    if case.first_unit_id is None:
        case.first_unit = target
        extra.append("first_unit")
    now = _now()
    case.unit = target
    case.dispatched_at = now
    minutes, clock = disposal_limit(case)
    _move(
        case,
        actor=actor,
        action=Action.DISPATCH,
        to_status=Status.DISPATCHED,
        now=now,
        next_limit=minutes,
        next_clock=clock,
        note=text,
        extra_fields=extra,
        data=data,
        trace_unit=target,
        starts_disposal=True,
    )
    return case


@transaction.atomic
def case_transfer(*, actor: User, case: Case, unit: Organization | str | int, reason: str) -> Case:
    """Move a dispatched case to another unit (dispatched/processing → dispatched).

    A reason is required; once the transfer limit is reached only the street office decides.
    The disposal clock restarts for the new unit.
    """
    _require_role(actor, Role.DISPATCHER, Role.SUPERVISOR)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    why = _clean_text(reason, field="reason", max_length=MAX_NOTE, required=True)
    target = _resolve_unit(unit, case)
    if target.pk == case.unit_id:
        raise CaseError(
            CaseError.Code.UNKNOWN_UNIT,
            _("The case is already with %(unit)s.") % {"unit": target.name},
            field="unit",
        )
    _check_transfer_allowed(actor, case)
    previous = case.unit
    now = _now()
    case.unit = target
    case.transfer_count += 1
    case.dispatched_at = now
    minutes, clock = disposal_limit(case)
    _move(
        case,
        actor=actor,
        action=Action.TRANSFER,
        to_status=Status.DISPATCHED,
        now=now,
        next_limit=minutes,
        next_clock=clock,
        note=why,
        extra_fields=["unit", "transfer_count", "dispatched_at"],
        data={"from_unit": previous.code if previous else "", "unit": target.code},
        trace_unit=target,
        starts_disposal=True,
    )
    CaseRequest.objects.filter(
        case=case, state=RequestState.PENDING, kind=RequestKind.RETURN
    ).update(state=RequestState.REJECTED, decided_by=actor, decided_at=now, decision_note=why)
    return case


# --------------------------------------------------------------------------- requests


def _file_request(
    case: Case,
    *,
    actor: User,
    kind: str,
    action: str,
    reason: str,
    extra_minutes: int | None = None,
) -> CaseRequest:
    """Open a request that waits for a decision (at most one pending per kind) and write its
    trace row and audit record; the case's state and clock do not change."""
    if CaseRequest.objects.filter(case=case, kind=kind, state=RequestState.PENDING).exists():
        raise CaseError(
            CaseError.Code.REQUEST_PENDING,
            _("A %(kind)s request for this case is already waiting for a decision.")
            % {"kind": RequestKind(kind).label},
            kind=ErrorKind.CONFLICT,
        )
    req = CaseRequest.objects.create(
        case=case,
        kind=kind,
        reason=reason,
        extra_minutes=extra_minutes,
        requested_by=actor,
        unit=case.unit,
        requested_at=_now(),
    )
    data: dict[str, Any] = {"request": req.pk}
    if extra_minutes is not None:
        data["extra_minutes"] = extra_minutes
    _mark_in_place(case, actor=actor, action=action, now=req.requested_at, note=reason, data=data)
    return req


def _pending_request(case: Case, kind: str) -> CaseRequest:
    req = (
        CaseRequest.objects.select_for_update()
        .filter(case=case, kind=kind, state=RequestState.PENDING)
        .first()
    )
    if req is None:
        raise CaseError(
            CaseError.Code.NO_PENDING_REQUEST,
            _("There is no %(kind)s request waiting for a decision on this case.")
            % {"kind": RequestKind(kind).label},
            kind=ErrorKind.CONFLICT,
        )
    return req


def _decide(req: CaseRequest, *, actor: User, approve: bool, note: str, now: dt.datetime) -> None:
    req.state = RequestState.APPROVED if approve else RequestState.REJECTED
    req.decided_by = actor
    req.decided_at = now
    req.decision_note = note
    req.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])


@dataclass(frozen=True)
class _Approval:
    request: CaseRequest
    note: str
    now: dt.datetime


def _settle_request(
    case: Case, *, actor: User, kind: str, approve: bool, note: str, reject_action: str
) -> _Approval | None:
    """Record the decision on the pending request of ``kind``. A rejection (which needs a note)
    also writes its trace row and audit record and returns ``None``; an approval returns what
    the caller needs to apply it."""
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=not approve)
    req = _pending_request(case, kind)
    now = _now()
    _decide(req, actor=actor, approve=approve, note=text, now=now)
    if approve:
        return _Approval(req, text, now)
    _mark_in_place(
        case, actor=actor, action=reject_action, now=now, note=text, data={"request": req.pk}
    )
    return None


@transaction.atomic
def case_return_request(*, actor: User, case: Case, reason: str) -> CaseRequest:
    """The unit says "not ours" (a reason is required); the dispatcher decides."""
    _require_role(actor, Role.UNIT_HANDLER)
    case = _lock(case)
    _require_unit(actor, case)
    _require_status(case, Status.DISPATCHED)
    why = _clean_text(reason, field="reason", max_length=MAX_NOTE, required=True)
    return _file_request(
        case, actor=actor, kind=RequestKind.RETURN, action=Action.RETURN_REQUEST, reason=why
    )


@transaction.atomic
def case_return_decide(*, actor: User, case: Case, approve: bool, note: str = "") -> Case:
    """Dispatcher approves a return (dispatched → filed; counts as a wrong dispatch) or rejects
    it (the unit keeps the case)."""
    _require_role(actor, Role.DISPATCHER, Role.SUPERVISOR)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.DISPATCHED)
    approval = _settle_request(
        case,
        actor=actor,
        kind=RequestKind.RETURN,
        approve=approve,
        note=note,
        reject_action=Action.RETURN_REJECT,
    )
    if approval is None:
        return case
    req, text, now = approval.request, approval.note, approval.now
    returning_unit = case.unit
    case.unit = None
    case.return_count += 1
    limit = _urgency_limit(case, "dispatch")
    _move(
        case,
        actor=actor,
        action=Action.RETURN_APPROVE,
        to_status=Status.FILED,
        now=now,
        next_limit=limit,
        note=text or req.reason,
        extra_fields=["unit", "return_count"],
        data={"request": req.pk, "unit": returning_unit.code if returning_unit else ""},
        trace_unit=returning_unit,
    )
    return case


def _require_extension_room(case: Case) -> None:
    if case.extension_count >= settings.CIVICGRID_MAX_EXTENSIONS:
        raise CaseError(
            CaseError.Code.EXTENSION_LIMIT,
            _("This case has had %(n)s extensions, the most allowed.")
            % {"n": case.extension_count},
            kind=ErrorKind.CONFLICT,
        )


@transaction.atomic
def case_extension_request(
    *, actor: User, case: Case, extra_minutes: int, reason: str
) -> CaseRequest:
    """The unit asks for more time (capped number of extensions); a leader decides."""
    _require_role(actor, Role.UNIT_HANDLER)
    case = _lock(case)
    _require_unit(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    why = _clean_text(reason, field="reason", max_length=MAX_NOTE, required=True)
    if (
        not isinstance(extra_minutes, int)
        or isinstance(extra_minutes, bool)
        or not (0 < extra_minutes <= 15 * 24 * 60)
    ):
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("The extension must be between 1 minute and 15 days."),
            field="extra_minutes",
        )
    _require_extension_room(case)
    return _file_request(
        case,
        actor=actor,
        kind=RequestKind.EXTENSION,
        action=Action.EXTENSION_REQUEST,
        reason=why,
        extra_minutes=extra_minutes,
    )


@transaction.atomic
def case_extension_decide(*, actor: User, case: Case, approve: bool, note: str = "") -> Case:
    """A leader approves (the deadline moves by the requested time) or rejects an extension."""
    _require_role(actor, *LEADER_ROLES)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    if approve:
        _require_extension_room(case)
    approval = _settle_request(
        case,
        actor=actor,
        kind=RequestKind.EXTENSION,
        approve=approve,
        note=note,
        reject_action=Action.EXTENSION_REJECT,
    )
    if approval is None:
        return case
    req, text, now = approval.request, approval.note, approval.now
    minutes = req.extra_minutes or 0
    old_deadline = case.deadline_at
    if case.deadline_at is not None and not case.is_on_hold:
        base = max(case.deadline_at, now) if case.is_overdue else case.deadline_at
        case.deadline_at = _add_time(base, minutes, case.step_clock)
        case.warning_at = case.deadline_at - (case.deadline_at - base) * 0.2
    elif case.is_on_hold and case.hold_remaining_minutes is not None:
        case.hold_remaining_minutes += minutes
    case.disposal_deadline_at = case.deadline_at
    case.extension_count += 1
    case.is_overdue = False
    _mark_in_place(
        case,
        actor=actor,
        action=Action.EXTENSION_APPROVE,
        now=now,
        note=text or req.reason,
        fields=[
            "deadline_at",
            "warning_at",
            "disposal_deadline_at",
            "extension_count",
            "hold_remaining_minutes",
            "is_overdue",
        ],
        data={
            "request": req.pk,
            "extra_minutes": minutes,
            "old_deadline": old_deadline.isoformat() if old_deadline else None,
        },
    )
    return case


@transaction.atomic
def case_hold_request(*, actor: User, case: Case, reason: str) -> CaseRequest:
    """The unit asks to pause the clock (e.g. waiting for a third party); a leader decides."""
    _require_role(actor, Role.UNIT_HANDLER)
    case = _lock(case)
    _require_unit(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    if case.is_on_hold:
        raise CaseError(
            CaseError.Code.WRONG_STATE, _("The case is already on hold."), kind=ErrorKind.CONFLICT
        )
    why = _clean_text(reason, field="reason", max_length=MAX_NOTE, required=True)
    return _file_request(
        case, actor=actor, kind=RequestKind.HOLD, action=Action.HOLD_REQUEST, reason=why
    )


@transaction.atomic
def case_hold_decide(*, actor: User, case: Case, approve: bool, note: str = "") -> Case:
    """A leader puts the case on hold (the clock stops, remaining time kept) or rejects."""
    _require_role(actor, *LEADER_ROLES)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    approval = _settle_request(
        case,
        actor=actor,
        kind=RequestKind.HOLD,
        approve=approve,
        note=note,
        reject_action=Action.HOLD_REJECT,
    )
    if approval is None:
        return case
    req, text, now = approval.request, approval.note, approval.now
    remaining = 0.0
    if case.deadline_at is not None:
        remaining = max(0.0, _minutes_between(now, case.deadline_at, case.step_clock))
    case.is_on_hold = True
    case.hold_started_at = now
    case.hold_remaining_minutes = remaining
    _mark_in_place(
        case,
        actor=actor,
        action=Action.HOLD_APPROVE,
        now=now,
        note=text or req.reason,
        fields=["is_on_hold", "hold_started_at", "hold_remaining_minutes"],
        data={"request": req.pk, "remaining_minutes": round(remaining, 1)},
    )
    return case


@transaction.atomic
def case_resume(*, actor: User, case: Case, note: str = "") -> Case:
    """End a hold: the clock runs again with the time that was left when it stopped."""
    _require_role(actor, Role.UNIT_HANDLER, *LEADER_ROLES)
    case = _lock(case)
    if actor.role == Role.UNIT_HANDLER:
        _require_unit(actor, case)
    else:
        _require_area(actor, case)
    if not case.is_on_hold:
        raise CaseError(
            CaseError.Code.WRONG_STATE, _("The case is not on hold."), kind=ErrorKind.CONFLICT
        )
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=False)
    now = _now()
    remaining = case.hold_remaining_minutes or 0.0
    limit = case.step_limit_minutes or 0
    held_minutes = (
        _minutes_between(case.hold_started_at, now, case.step_clock) if case.hold_started_at else 0
    )
    case.deadline_at = _add_time(now, remaining, case.step_clock)
    case.warning_at = _add_time(now, max(0.0, remaining - 0.2 * limit), case.step_clock)
    case.disposal_deadline_at = case.deadline_at
    case.is_on_hold = False
    case.hold_started_at = None
    case.hold_remaining_minutes = None
    _mark_in_place(
        case,
        actor=actor,
        action=Action.RESUME,
        now=now,
        note=text,
        fields=[
            "is_on_hold",
            "hold_started_at",
            "hold_remaining_minutes",
            "deadline_at",
            "warning_at",
            "disposal_deadline_at",
        ],
        data={"held_minutes": round(held_minutes, 1)},
    )
    return case


# --------------------------------------------------------------------------- disposal


@transaction.atomic
def case_start(*, actor: User, case: Case, note: str = "") -> Case:
    """The unit starts work (dispatched → processing); the disposal clock keeps running."""
    _require_role(actor, Role.UNIT_HANDLER)
    case = _lock(case)
    _require_unit(actor, case)
    _require_status(case, Status.DISPATCHED)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=False)
    _keep_clock_move(case, actor=actor, action=Action.START, to_status=Status.PROCESSING, note=text)
    return case


def _keep_clock_move(case: Case, *, actor: User, action: str, to_status: str, note: str) -> Trace:
    """A state change inside one clocked step (dispatched → processing): the deadline stays."""
    now = _now()
    from_status = case.status
    case.status = to_status
    trace = _write_trace(
        case, action=action, from_status=from_status, actor=actor, now=now, note=note
    )
    case.updated_at = now
    case.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action=f"case.{action}",
        target=case,
        data={"number": case.number, "from": from_status, "to": to_status},
    )
    return trace


@transaction.atomic
def case_process(*, actor: User, case: Case, note: str, photos: Sequence[CheckedPhoto]) -> Case:
    """The unit reports the work done (processing → processed). A note and at least one photo
    are required. A pending return request is withdrawn; a hold ends."""
    _require_role(actor, Role.UNIT_HANDLER)
    case = _lock(case)
    _require_unit(actor, case)
    _require_status(case, Status.DISPATCHED, Status.PROCESSING)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=True)
    if not photos:
        raise CaseError(
            CaseError.Code.PHOTO_REQUIRED,
            _("Add at least one photo of the work done."),
            field="photos",
        )
    if case.is_on_hold:
        raise CaseError(
            CaseError.Code.WRONG_STATE,
            _("The case is on hold; resume it first."),
            kind=ErrorKind.CONFLICT,
        )
    if case.status == Status.DISPATCHED:
        _keep_clock_move(
            case, actor=actor, action=Action.START, to_status=Status.PROCESSING, note=""
        )
    now = _now()
    case.processed_at = now
    late = case.deadline_at is not None and now > case.deadline_at
    case.was_disposal_late = late
    trace = _move(
        case,
        actor=actor,
        action=Action.PROCESS,
        to_status=Status.PROCESSED,
        now=now,
        next_limit=step_limit("check"),
        next_clock=_intake_clock(case),
        note=text,
        extra_fields=["processed_at", "was_disposal_late"],
        data={"late": late},
    )
    _attach_photos(case, photos=photos, stage=PhotoStage.PROCESS, trace=trace, actor=actor, now=now)
    CaseRequest.objects.filter(case=case, state=RequestState.PENDING).exclude(
        kind=RequestKind.SELF_HANDLE
    ).update(state=RequestState.REJECTED, decided_at=now, decision_note="processed")
    return case


# --------------------------------------------------------------------------- check and close


@transaction.atomic
def case_check_start(*, actor: User, case: Case) -> Case:
    """A grid worker (or the reporter) goes to check the work (processed → checking)."""
    case = _lock(case)
    _require_checker(actor, case)
    _require_status(case, Status.PROCESSED)
    _move(
        case,
        actor=actor,
        action=Action.CHECK_START,
        to_status=Status.CHECKING,
        now=_now(),
        next_limit=step_limit("close"),
    )
    return case


def _require_checker(actor: User, case: Case) -> None:
    if actor is not None and actor.is_authenticated and case.reporter_id == actor.pk:
        return
    _require_role(actor, Role.GRID_WORKER)
    _require_area(actor, case)


@transaction.atomic
def case_check_finish(
    *,
    actor: User,
    case: Case,
    passed: bool,
    note: str = "",
    photos: Sequence[CheckedPhoto] = (),
) -> Case:
    """Finish the check: passed → closed (the rating clock starts); failed → dispatched again
    to the same unit (rework; a reason is required) with a new disposal clock."""
    case = _lock(case)
    _require_checker(actor, case)
    _require_status(case, Status.CHECKING)
    text = _clean_text(
        note, field="reason" if not passed else "note", max_length=MAX_NOTE, required=not passed
    )
    now = _now()
    if passed:
        case.closed_at = now
        trace = _move(
            case,
            actor=actor,
            action=Action.CHECK_PASS,
            to_status=Status.CLOSED,
            now=now,
            next_limit=step_limit("rate"),
            next_clock=Clock.WORKING,
            note=text,
            extra_fields=["closed_at"],
        )
    else:
        case.rework_count += 1
        case.dispatched_at = now
        case.processed_at = None
        minutes, clock = disposal_limit(case)
        trace = _move(
            case,
            actor=actor,
            action=Action.CHECK_FAIL,
            to_status=Status.DISPATCHED,
            now=now,
            next_limit=minutes,
            next_clock=clock,
            note=text,
            extra_fields=["rework_count", "dispatched_at", "processed_at"],
            starts_disposal=True,
        )
    _attach_photos(case, photos=photos, stage=PhotoStage.CHECK, trace=trace, actor=actor, now=now)
    return case


@transaction.atomic
def case_rate(
    *,
    actor: User,
    case: Case,
    satisfaction: str,
    resolved: bool,
    contacted: bool = True,
    comment: str = "",
) -> Rating:
    """The reporter rates a closed case, or an operator records a call-back (closed → evaluated)."""
    case = _lock(case)
    is_reporter = actor is not None and actor.is_authenticated and case.reporter_id == actor.pk
    if not is_reporter:
        _require_role(actor, Role.OPERATOR)
        _require_area(actor, case)
    # The rating was read with the lock; a rating written while this step waited for the lock
    # may be missing from that read, but its case is then evaluated already.
    if _rating_of(case) is not None or case.status == Status.EVALUATED:
        raise CaseError(
            CaseError.Code.ALREADY_RATED,
            _("This case has already been rated."),
            kind=ErrorKind.CONFLICT,
        )
    _require_status(case, Status.CLOSED)
    _choice(satisfaction, Satisfaction, "satisfaction")
    text = _clean_text(comment, field="comment", max_length=1000, required=False)
    now = _now()
    rating = Rating(
        case=case,
        contacted=bool(contacted),
        resolved=bool(resolved),
        satisfaction=satisfaction,
        comment=text,
        is_callback=not is_reporter,
        rated_by=actor,
        rated_at=now,
    )
    # Field checks only: the case is the locked row and the rater the authenticated actor;
    # the database's foreign keys still hold at INSERT.
    rating.full_clean(exclude=["case", "rated_by"])
    rating.save()
    _move(
        case,
        actor=actor,
        action=Action.RATE,
        to_status=Status.EVALUATED,
        now=now,
        next_limit=None,
        note=text,
        data={
            "satisfaction": satisfaction,
            "resolved": bool(resolved),
            "callback": not is_reporter,
        },
    )
    return rating


# --------------------------------------------------------------------------- self-handle


@transaction.atomic
def case_self_handle(
    *,
    actor: User,
    case: Case,
    note: str,
    before: Sequence[CheckedPhoto],
    after: Sequence[CheckedPhoto],
) -> Case:
    """A grid worker fixes a minor problem on the spot (reported → closed) with before and
    after photos; a shift leader reviews it afterwards."""
    _require_role(actor, Role.GRID_WORKER)
    case = _lock(case)
    _require_area(actor, case)
    _require_status(case, Status.REPORTED, Status.ACCEPTED)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=True)
    if not before or not after:
        raise CaseError(
            CaseError.Code.PHOTO_REQUIRED,
            _("Add a photo from before and a photo from after the fix."),
            field="before" if not before else "after",
        )
    now = _now()
    case.is_self_handled = True
    case.closed_at = now
    case.processed_at = now
    trace = _move(
        case,
        actor=actor,
        action=Action.SELF_HANDLE,
        to_status=Status.CLOSED,
        now=now,
        next_limit=step_limit("rate"),
        next_clock=Clock.WORKING,
        note=text,
        extra_fields=["is_self_handled", "closed_at", "processed_at"],
    )
    _attach_photos(case, photos=before, stage=PhotoStage.BEFORE, trace=trace, actor=actor, now=now)
    _attach_photos(case, photos=after, stage=PhotoStage.AFTER, trace=trace, actor=actor, now=now)
    CaseRequest.objects.create(
        case=case,
        kind=RequestKind.SELF_HANDLE,
        reason=text,
        requested_by=actor,
        requested_at=now,
    )
    return case


@transaction.atomic
def case_self_handle_review(*, actor: User, case: Case, approve: bool, note: str = "") -> Case:
    """A shift leader confirms on-the-spot handling, or rejects it: the case is reopened as
    filed and goes to dispatch."""
    _require_role(actor, Role.SHIFT_LEADER)
    case = _lock(case)
    _require_area(actor, case)
    req = _pending_request(case, RequestKind.SELF_HANDLE)
    text = _clean_text(note, field="note", max_length=MAX_NOTE, required=not approve)
    now = _now()
    _decide(req, actor=actor, approve=approve, note=text, now=now)
    if approve:
        _mark_in_place(
            case,
            actor=actor,
            action=Action.SELF_HANDLE_APPROVE,
            now=now,
            note=text,
            data={"request": req.pk},
        )
        return case
    _require_status(case, Status.CLOSED)
    case.is_self_handled = False
    case.closed_at = None
    case.processed_at = None
    limit = _urgency_limit(case, "dispatch")
    _move(
        case,
        actor=actor,
        action=Action.SELF_HANDLE_REJECT,
        to_status=Status.FILED,
        now=now,
        next_limit=limit,
        note=text,
        extra_fields=["is_self_handled", "closed_at", "processed_at"],
        data={"request": req.pk},
    )
    return case


# --------------------------------------------------------------------------- follow


def _add_follower(case: Case, *, user_id: int, now: dt.datetime) -> bool:
    _, created = Follower.objects.get_or_create(
        case=case, user_id=user_id, defaults={"followed_at": now}
    )
    if created:
        Case.objects.filter(pk=case.pk).update(follower_count=F("follower_count") + 1)
        readcache.bump(readcache.CASES)
    return created


@transaction.atomic
def case_follow(*, actor: User, case: Case) -> Case:
    """A resident follows an open case ("me too") instead of reporting it again; the follower
    count raises the case's priority in the queues."""
    if actor is None or not actor.is_authenticated:
        raise CaseError(
            CaseError.Code.WRONG_ROLE, _("Log in to follow a case."), kind=ErrorKind.UNAUTHENTICATED
        )
    case = _lock(case)
    if case.status not in OPEN_STATUSES:
        raise CaseError(
            CaseError.Code.WRONG_STATE,
            _("Only open cases can be followed."),
            kind=ErrorKind.CONFLICT,
        )
    if case.reporter_id == actor.pk or not _add_follower(case, user_id=actor.pk, now=_now()):
        raise CaseError(
            CaseError.Code.ALREADY_FOLLOWING,
            _("You already follow this case."),
            kind=ErrorKind.CONFLICT,
        )
    audit_record(actor=actor, action="case.follow", target=case, data={"number": case.number})
    # The row is locked, so no other writer moved the count since it was read: one more now.
    case.follower_count += 1
    return case


# --------------------------------------------------------------------------- escalation


def case_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Mark every open case whose current step is past its deadline as overdue and put it under
    the supervisor's watch, once per step. Returns how many cases were escalated.

    Idempotent and safe to run concurrently: each case is claimed with a conditional UPDATE
    (``escalated_step_at`` differs from the step start), so a second sweep, or two sweeps at
    once, escalate a step exactly once.
    """
    now = now or _now()
    candidates = (
        Case.objects.filter(status__in=OPEN_STATUSES, is_on_hold=False, deadline_at__lt=now)
        .filter(Q(escalated_step_at__isnull=True) | ~Q(escalated_step_at=F("step_started_at")))
        .values_list("pk", flat=True)
    )
    count = 0
    for pk in list(candidates[:5000]):
        with transaction.atomic():
            claimed = (
                Case.objects.filter(
                    pk=pk, status__in=OPEN_STATUSES, is_on_hold=False, deadline_at__lt=now
                )
                .filter(
                    Q(escalated_step_at__isnull=True) | ~Q(escalated_step_at=F("step_started_at"))
                )
                .update(
                    escalated_step_at=F("step_started_at"),
                    is_overdue=True,
                    is_supervised=True,
                )
            )
            if not claimed:
                continue
            case = Case.objects.select_related("cell").get(pk=pk)
            _write_trace(
                case,
                action=Action.ESCALATE,
                from_status=case.status,
                actor=None,
                now=now,
                data={"deadline": case.deadline_at.isoformat() if case.deadline_at else None},
            )
            audit_record(
                actor=None,
                action="case.escalate",
                target=case,
                data={"number": case.number, "status": case.status},
            )
            _notify(
                _supervisors_for(case),
                event=EVENT_CASE_OVERDUE,
                params={"number": case.number, "status": case.status},
                link=f"/cases/{case.number}/",
                dedupe_key=f"escalate:{case.pk}:{case.step_started_at:%Y%m%d%H%M%S%f}",
                now=now,
            )
            count += 1
    return count
