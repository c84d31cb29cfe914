"""Reads of the cases app: scoped querysets with their joins, ready to render."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.conf import settings
from django.db.models import Case as SqlCase
from django.db.models import CharField, Count, Q, QuerySet, Value, When
from django.utils import timezone

from civicgrid.accounts.models import Role, User

from .models import (
    OPEN_STATUSES,
    Case,
    CasePhoto,
    CaseRequest,
    Category,
    Light,
    RequestKind,
    RequestState,
    Status,
    Trace,
)

_CASE_JOINS = ("category", "cell", "unit")


def _in_area(qs: QuerySet[Case], user: User) -> QuerySet[Case]:
    if user.role == Role.ADMINISTRATOR or not user.area_code:
        return qs
    if len(user.area_code) <= 6:
        return qs.filter(district_code__startswith=user.area_code[:6])
    return qs.filter(cell__code__startswith=user.area_code)


def case_list_for_staff(*, user: User) -> QuerySet[Case]:
    """Every case the staff member may see: their area, or their unit's cases."""
    qs = Case.objects.select_related(*_CASE_JOINS)
    if user.role == Role.UNIT_HANDLER:
        return qs.filter(unit_id=user.organization_id)
    return _in_area(qs, user)


def case_queue(*, user: User) -> QuerySet[Case]:
    """The work queue of the user's role: the cases waiting for a step this role takes,
    most urgent first (deadline, then followers)."""
    qs = Case.objects.select_related(*_CASE_JOINS)
    role = user.role
    if role == Role.OPERATOR:
        qs = _in_area(qs, user).filter(status=Status.REPORTED)
    elif role == Role.GRID_WORKER:
        qs = _in_area(qs, user).filter(
            status__in=[Status.ACCEPTED, Status.PROCESSED, Status.CHECKING]
        )
    elif role == Role.SHIFT_LEADER:
        pending = CaseRequest.objects.filter(
            state=RequestState.PENDING,
            kind__in=[RequestKind.EXTENSION, RequestKind.HOLD, RequestKind.SELF_HANDLE],
        ).values("case_id")
        qs = _in_area(qs, user).filter(
            Q(status__in=[Status.ACCEPTED, Status.VERIFIED]) | Q(pk__in=pending)
        )
    elif role == Role.DISPATCHER:
        pending = CaseRequest.objects.filter(
            state=RequestState.PENDING, kind=RequestKind.RETURN
        ).values("case_id")
        qs = _in_area(qs, user).filter(Q(status=Status.FILED) | Q(pk__in=pending))
    elif role == Role.UNIT_HANDLER:
        qs = qs.filter(
            unit_id=user.organization_id, status__in=[Status.DISPATCHED, Status.PROCESSING]
        )
    elif role == Role.SUPERVISOR:
        pending = CaseRequest.objects.filter(
            state=RequestState.PENDING, kind__in=[RequestKind.EXTENSION, RequestKind.HOLD]
        ).values("case_id")
        qs = _in_area(qs, user).filter(
            Q(status__in=OPEN_STATUSES) & (Q(is_supervised=True) | Q(pk__in=pending))
        )
    elif role in (Role.ADMINISTRATOR, Role.COMMITTEE_MEMBER):
        qs = _in_area(qs, user).filter(status__in=OPEN_STATUSES)
    else:
        return Case.objects.none()
    return qs.order_by("deadline_at", "-follower_count", "id")


def light_expression(now: dt.datetime) -> SqlCase:
    """:meth:`Case.light` in SQL, for counting and filtering a queue by light in the database
    (the two must agree; a test compares them on every kind of case)."""
    none, red = Value(Light.NONE), Value(Light.RED)
    return SqlCase(
        When(Q(deadline_at__isnull=True) | ~Q(status__in=OPEN_STATUSES), then=none),
        When(is_on_hold=True, is_overdue=True, then=red),
        When(is_on_hold=True, then=Value(Light.GREEN)),
        When(deadline_at__lt=now, then=red),
        When(warning_at__lte=now, then=Value(Light.YELLOW)),
        default=Value(Light.GREEN),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class QueuePage:
    """One page of a work queue: its cases with their light, the count of each light over the
    whole queue, and where the page is."""

    rows: Sequence[tuple[Case, str]]
    light_counts: dict[str, int]
    total: int  # cases under the chosen light (all of them without one)
    page: int
    pages: int


QUEUE_SEARCH_MAX = 100


def case_search_q(text: str) -> Q:
    """Cases matching every word of ``text`` (case-insensitive), each word in the number, the
    description, the address, the category's names or code, or the grid cell's names or code.
    Blank text matches everything."""
    condition = Q()
    for word in text.split()[:8]:
        condition &= (
            Q(number__startswith=word)
            | Q(description__icontains=word)
            | Q(address__icontains=word)
            | Q(category__name__icontains=word)
            | Q(category__name_en__icontains=word)
            | Q(category__code__iexact=word)
            | Q(cell__name__icontains=word)
            | Q(cell__name_en__icontains=word)
            | Q(cell__code__startswith=word)
        )
    return condition


def case_queue_page(
    *,
    user: User,
    light: str = "",
    search: str = "",
    page: int = 1,
    page_size: int = 50,
    now: dt.datetime | None = None,
) -> QueuePage:
    """A page of the user's queue (:func:`case_queue`), optionally only one light and only the
    cases matching ``search`` (:func:`case_search_q`), with the light counts of the queue (of
    the matches, when searching). Two queries whatever the queue's length; a page past the end
    is the last page."""
    now = now or timezone.now()
    qs = case_queue(user=user).annotate(queue_light=light_expression(now))
    if search.strip():
        qs = qs.filter(case_search_q(search[:QUEUE_SEARCH_MAX]))
    counts = {value: 0 for value in Light.values}
    for row in qs.order_by().values("queue_light").annotate(n=Count("id")):
        counts[row["queue_light"]] = row["n"]
    if light in Light.values:
        qs = qs.filter(queue_light=light)
        total = counts[light]
    else:
        total = sum(counts.values())
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    rows = [(case, case.queue_light) for case in qs[start : start + page_size]]
    return QueuePage(rows=rows, light_counts=counts, total=total, page=page, pages=pages)


def case_list_for_resident(*, user: User) -> QuerySet[Case]:
    """The resident's own reports and the cases they follow, newest first."""
    return (
        Case.objects.select_related(*_CASE_JOINS)
        .filter(Q(reporter=user) | Q(followers__user=user))
        .distinct()
        .order_by("-reported_at")
    )


def case_list_public() -> QuerySet[Case]:
    """Cases anyone may see (the public projection is applied when rendering)."""
    return (
        Case.objects.select_related(*_CASE_JOINS)
        .exclude(status=Status.CANCELLED)
        .filter(category__is_public=True)
        .order_by("-reported_at")
    )


# Decimals of Case.public_point(): a named report's point and an anonymous one's.
_PUBLIC_DIGITS = {False: 5, True: 3}
_CASE_NUMBER_RE = re.compile(r"^[0-9]{1,16}$")
_PUBLIC_CLOSED = frozenset({Status.CLOSED, Status.EVALUATED})


def case_public_get(*, number: str) -> Case | None:
    """The case with this number if the public may see it (see :func:`case_list_public`),
    else ``None``: unknown, cancelled and non-public-category cases alike. One query."""
    if not _CASE_NUMBER_RE.match(number):
        return None
    return case_list_public().filter(number=number).first()


def case_timeline_public(*, case: Case) -> QuerySet[Trace]:
    """A case's trace rows with their unit, oldest first, for the public timeline (which shows
    neither actors nor notes, so neither is joined). One query."""
    return Trace.objects.filter(case=case).select_related("unit").order_by("finished_at", "id")


def _rounded_within(field: str, low: float, high: float, digits: int) -> Q:
    """Rows whose ``field`` rounded to ``digits`` decimals lies in ``[low, high]``.

    The public sees rounded points; filtering on the exact value would let a client narrow a
    box until it pins an anonymous reporter's point far below the rounding. So the box is
    widened or narrowed to the rounding grid instead: a rounded value in ``[low, high]`` is one
    of the grid values from ``ceil(low)`` to ``floor(high)``, and the exact values that round to
    those lie within half a step of them.
    """
    step = Decimal(1).scaleb(-digits)
    first = Decimal(repr(low)).quantize(step, rounding=ROUND_CEILING)
    last = Decimal(repr(high)).quantize(step, rounding=ROUND_FLOOR)
    if first > last:
        return Q(pk__in=[])
    half = step / 2
    return Q(**{f"{field}__gte": float(first - half), f"{field}__lt": float(last + half)})


def case_filter_public(
    qs: QuerySet[Case],
    *,
    state: str | None = None,
    status: str | None = None,
    category: str | None = None,
    area: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> QuerySet[Case]:
    """Narrow the public case list: ``state`` (``open``/``closed``), ``status``, ``category``
    (a code; an inner node takes its whole subtree, whose codes extend it by digits), ``area``
    (a district code or a prefix of the cell code), ``since``/``until`` (inclusive, on
    ``reported_at``) and ``bbox`` (min_lng, min_lat, max_lng, max_lat) on the *public* point,
    so that a filter tells no more about a location than the rounded point shown. Newest
    first, the later-created first among equal times, so pages do not overlap."""
    if state == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif state == "closed":
        qs = qs.filter(status__in=_PUBLIC_CLOSED)
    if status is not None:
        qs = qs.filter(status=status)
    if category:
        subtree = Category.objects.filter(
            Q(code=category) | Q(code__regex=rf"^{re.escape(category)}[0-9]")
        ).values("pk")
        qs = qs.filter(category_id__in=subtree)
    if area:
        if len(area) <= 6:
            qs = qs.filter(district_code__startswith=area)
        else:
            qs = qs.filter(cell__code__startswith=area)
    if since is not None:
        qs = qs.filter(reported_at__gte=since)
    if until is not None:
        qs = qs.filter(reported_at__lte=until)
    if bbox is not None:
        min_lng, min_lat, max_lng, max_lat = bbox
        inside = Q(pk__in=[])
        for anonymous, digits in _PUBLIC_DIGITS.items():
            inside |= (
                Q(is_anonymous=anonymous)
                & _rounded_within("lat", min_lat, max_lat, digits)
                & _rounded_within("lng", min_lng, max_lng, digits)
            )
        qs = qs.filter(inside)
    return qs.order_by("-reported_at", "-id")


def case_timeline(*, case: Case) -> QuerySet[Trace]:
    return (
        Trace.objects.filter(case=case)
        .select_related("actor", "unit")
        .prefetch_related("photos")
        .order_by("finished_at", "id")
    )


def case_pending_requests(*, case: Case) -> QuerySet[CaseRequest]:
    return CaseRequest.objects.filter(case=case, state=RequestState.PENDING).select_related(
        "requested_by"
    )


def leaf_categories(*, public_only: bool = True) -> QuerySet[Category]:
    qs = Category.objects.filter(is_active=True, children__isnull=True)
    if public_only:
        qs = qs.filter(is_public=True)
    return qs.select_related("parent").order_by("branch", "sort_order", "code")


def _metres_between(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6371000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def case_duplicates_nearby(
    *,
    category: Category,
    lat: float,
    lng: float,
    at: dt.datetime | None = None,
    radius_m: int | None = None,
    window_hours: int | None = None,
    limit: int = 5,
) -> list[tuple[Case, float]]:
    """Open cases of the same category within ``radius_m`` reported in the last
    ``window_hours``, nearest first, with their distance in metres."""
    at = at or timezone.now()
    radius = radius_m or settings.CIVICGRID_DUPLICATE_RADIUS_M
    window = window_hours or settings.CIVICGRID_DUPLICATE_WINDOW_HOURS
    dlat = radius / 111_320
    dlng = radius / (111_320 * max(0.01, math.cos(math.radians(lat))))
    rows = Case.objects.select_related(*_CASE_JOINS).filter(
        category=category,
        status__in=OPEN_STATUSES,
        reported_at__gte=at - dt.timedelta(hours=window),
        reported_at__lte=at,
        lat__range=(lat - dlat, lat + dlat),
        lng__range=(lng - dlng, lng + dlng),
    )[:200]
    found = []
    for case in rows:
        assert case.lat is not None and case.lng is not None
        d = _metres_between(lat, lng, case.lat, case.lng)
        if d <= radius:
            found.append((case, d))
    found.sort(key=lambda pair: pair[1])
    return found[:limit]


def light_q(light: str, now: dt.datetime) -> Q:
    """The rows whose ``Case.light(now)`` is ``light``, as a query (mirrors :meth:`Case.light`)."""
    clocked = Q(status__in=OPEN_STATUSES, deadline_at__isnull=False)
    running = Q(is_on_hold=False)
    held = Q(is_on_hold=True)
    if light == Light.NONE:
        return ~clocked
    if light == Light.RED:
        return clocked & ((held & Q(is_overdue=True)) | (running & Q(deadline_at__lt=now)))
    if light == Light.YELLOW:
        return clocked & running & Q(deadline_at__gte=now, warning_at__lte=now)
    return clocked & (
        (held & Q(is_overdue=False))
        | (running & Q(deadline_at__gte=now) & (Q(warning_at__isnull=True) | Q(warning_at__gt=now)))
    )


def case_filter(
    qs: QuerySet[Case],
    *,
    status: str | None = None,
    category: str | None = None,
    unit: str | None = None,
    overdue: bool | None = None,
    light: str | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Case]:
    """Narrow a scoped case list: status, category (a leaf or its parent's code), unit code,
    overdue flag, traffic light at ``now``."""
    if status is not None:
        qs = qs.filter(status=status)
    if category:
        qs = qs.filter(Q(category__code=category) | Q(category__parent__code=category))
    if unit:
        qs = qs.filter(unit__code=unit)
    if overdue is not None:
        qs = qs.filter(is_overdue=overdue)
    if light is not None:
        qs = qs.filter(light_q(light, now or timezone.now()))
    return qs


def case_photos(*, case: Case) -> QuerySet[CasePhoto]:
    """A case's photos, oldest first. One query on the photo table alone: the caller has the
    case (``photo_out`` takes its number)."""
    return CasePhoto.objects.filter(case_id=case.pk).order_by("uploaded_at", "id")


def case_photo(*, case: Case, photo_id: int) -> CasePhoto | None:
    return CasePhoto.objects.filter(case=case, pk=photo_id).first()
