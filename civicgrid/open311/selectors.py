"""Reads behind the Open311 endpoints: which cases and services the standard's clients see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from civicgrid.cases.models import Case, CasePhoto, Category, PhotoStage, Status, Trace
from civicgrid.cases.selectors import case_list_public, leaf_categories
from civicgrid.geo.geometry import to_shape
from civicgrid.geo.models import GridCell
from civicgrid.geo.selectors import cell_by_code

from .mapping import CLOSED, statuses_for
from .params import RequestQuery

# At most this many requests in one answer without paging (the standard's cap). Read at call
# time, so a test can lower it.
MAX_RESULTS = 1000
FEED_SIZE = 100


# --------------------------------------------------------------------------- services


def service_list() -> list[tuple[Category, list[Category]]]:
    """Every service: the public, active leaf categories, each with its ancestors from the
    root down to the parent. Two queries, whatever the depth of the tree."""
    leaves = list(leaf_categories(public_only=True))
    by_id = {c.pk: c for c in Category.objects.only("id", "parent_id", "code", "name", "name_en")}
    services = []
    for leaf in leaves:
        ancestors: list[Category] = []
        parent_id = leaf.parent_id
        while parent_id is not None and parent_id in by_id and len(ancestors) < 20:
            parent = by_id[parent_id]
            ancestors.insert(0, parent)
            parent_id = parent.parent_id
        services.append((leaf, ancestors))
    return services


def service_by_code(code: str) -> Category | None:
    """The public, active leaf category with this code, or ``None`` (also for a branch or a
    category residents may not report under)."""
    text = (code or "").strip()
    if not text:
        return None
    return leaf_categories(public_only=True).filter(code=text).first()


# --------------------------------------------------------------------------- cases


# The only columns a request, a note or a feed entry reads (open311/mapping.py, feed.py): a
# list builds up to 1000 cases with their category, unit and cell, and every column loaded is
# work for each of them. A column read but not listed here costs a query per row, which the
# query-count tests catch.
_SHOWN = (
    "number",
    "status",
    "cancel_reason",
    "description",
    "reported_at",
    "updated_at",
    "closed_at",
    "deadline_at",
    "disposal_deadline_at",
    "address",
    "lat",
    "lng",
    "is_anonymous",
    "media_url",
    "category__code",
    "category__name",
    "category__name_en",
    "unit__name",
    "unit__name_en",
    "cell__code",
)


def open311_cases() -> QuerySet[Case]:
    """The cases Open311 shows: what the public case list shows (:func:`case_list_public`:
    public categories, cancelled cases excluded) plus the cancelled cases of public categories,
    which Open311 reports as ``closed`` so a client learns what became of its request.

    Each row carries ``open311_last_action`` (the action of its latest trace row, for
    ``status_notes``) and ``open311_photo_id`` (its first report photo, for ``media_url``) as
    subqueries, so a list is one query.
    """
    cancelled = Case.objects.filter(status=Status.CANCELLED, category__is_public=True)
    last_action = (
        Trace.objects.filter(case=OuterRef("pk")).order_by("-finished_at", "-id").values("action")
    )
    first_photo = (
        CasePhoto.objects.filter(case=OuterRef("pk"), stage=PhotoStage.REPORT)
        .order_by("uploaded_at", "id")
        .values("id")
    )
    return (
        (case_list_public() | cancelled)
        .select_related("category", "cell", "unit")
        .only(*_SHOWN)
        .annotate(
            open311_last_action=Subquery(last_action[:1]),
            open311_photo_id=Subquery(first_photo[:1]),
        )
        .order_by("-reported_at", "-id")
    )


def _with_notes(qs: QuerySet[Case]) -> QuerySet[Case]:
    traces = Trace.objects.select_related("unit").order_by("finished_at", "id")
    return qs.prefetch_related(Prefetch("traces", queryset=traces, to_attr="open311_notes"))


def request_list(query: RequestQuery) -> list[Case]:
    """The requests matching a checked query, newest first.

    ``ids`` replace every other filter. Otherwise ``service_codes``, the date window on
    ``reported_at`` (inclusive) and the Open311 statuses narrow the list. Without paging at
    most :data:`MAX_RESULTS` rows; with paging one page. One query (two with notes).
    """
    qs = open311_cases()
    if query.ids:
        qs = qs.filter(number__in=query.ids)
    else:
        if query.service_codes:
            qs = qs.filter(category__code__in=query.service_codes)
        if query.start is not None:
            qs = qs.filter(reported_at__gte=query.start)
        if query.end is not None:
            qs = qs.filter(reported_at__lte=query.end)
        if query.statuses:
            qs = qs.filter(status__in=statuses_for(query.statuses))
    if query.extensions:
        qs = _with_notes(qs)
    if query.page is not None and query.page_size is not None:
        offset = (query.page - 1) * query.page_size
        return list(qs[offset : offset + query.page_size])
    return list(qs[:MAX_RESULTS])


def request_by_number(number: str, *, with_notes: bool = False) -> Case | None:
    """One request Open311 shows, by its public number, or ``None``."""
    text = (number or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        return None
    qs = open311_cases().filter(number=text)
    if with_notes:
        qs = _with_notes(qs)
    return qs.first()


@dataclass(frozen=True)
class FeedEvent:
    kind: str  # "new" or "closed"
    at: dt.datetime
    case: Case


def feed_events(limit: int | None = None) -> list[FeedEvent]:
    """The latest new and closed requests (``limit``, :data:`FEED_SIZE` by default), newest
    first: one event per report and one per closing. Two queries."""
    size = limit or FEED_SIZE
    events = [FeedEvent("new", c.reported_at, c) for c in open311_cases()[:size]]
    closed = (
        open311_cases()
        .filter(status__in=statuses_for([CLOSED]), closed_at__isnull=False)
        .order_by("-closed_at", "-id")[:size]
    )
    events += [FeedEvent("closed", c.closed_at, c) for c in closed if c.closed_at is not None]
    events.sort(key=lambda e: (e.at, e.kind == "closed", e.case.pk), reverse=True)
    return events[:size]


# --------------------------------------------------------------------------- places


def cell_for_address_id(address_id: str) -> GridCell | None:
    """The active grid cell an ``address_id`` names (its 15-digit code), or ``None``."""
    return cell_by_code(address_id)


def cell_inner_point(cell: GridCell) -> tuple[float, float]:
    """(lat, lng) of a point guaranteed to lie inside the cell (shapely's representative
    point, not the centroid, which can fall outside an L-shaped cell)."""
    point = to_shape(cell.geometry).representative_point()
    return float(point.y), float(point.x)
