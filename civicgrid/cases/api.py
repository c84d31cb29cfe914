"""The cases API: categories, lists and queues, submission, and one endpoint per workflow step.

Every endpoint is thin: parse (schemas), turn the case number into a case through
:func:`access_case` (missing and forbidden are the same 404), turn uploads into checked
photos, call one service or selector, and render the result through the projections in
``schemas.py``. Refusals are :class:`CaseError`, mapped to HTTP in ``config/api.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import File, Form, Header, Query, Router
from ninja import Status as HttpStatus
from ninja.files import UploadedFile
from ninja.responses import NinjaJSONEncoder

from civicgrid.accounts.models import Role, User
from civicgrid.core import readcache
from civicgrid.core.errors import ErrorKind

from .access import Intent, access_case, access_case_full_or_public
from .errors import CaseError
from .models import Case, Source
from .photos import CheckedPhoto, check_photo, photo_file_for
from .schemas import (
    MAX_NOTE,
    AcceptIn,
    CancelIn,
    CaseDetailOut,
    CaseFiltersIn,
    CasePageOut,
    CasePublicOut,
    CaseSubmitIn,
    CategoryOut,
    DecisionIn,
    DispatchIn,
    DuplicateOut,
    DuplicatesIn,
    ExtensionIn,
    NoteIn,
    PageIn,
    PublicCaseDetailOut,
    PublicCaseFiltersIn,
    PublicCasePageOut,
    PublicCategoryOut,
    RateIn,
    ReasonIn,
    TraceOut,
    TransferIn,
    case_detail_out,
    case_out,
    case_public_out,
    category_out,
    public_case_detail_out,
    public_case_out,
    public_category_out,
    trace_out,
)
from .selectors import (
    case_duplicates_nearby,
    case_filter,
    case_filter_public,
    case_list_for_resident,
    case_list_for_staff,
    case_list_public,
    case_pending_requests,
    case_photo,
    case_photos,
    case_public_get,
    case_queue,
    case_timeline,
    case_timeline_public,
    leaf_categories,
)
from .services import (
    case_accept,
    case_cancel,
    case_check_finish,
    case_check_start,
    case_dispatch,
    case_extension_decide,
    case_extension_request,
    case_file,
    case_follow,
    case_hold_decide,
    case_hold_request,
    case_process,
    case_rate,
    case_resume,
    case_return_decide,
    case_return_request,
    case_self_handle,
    case_self_handle_review,
    case_start,
    case_submit,
    case_transfer,
    case_verify,
)

router = Router(tags=["cases"])
# The public data API: no login, only the public projections (mounted at /public).
public_router = Router(tags=["public"], auth=None)

MAX_PHOTOS = 9
MAX_IDEMPOTENCY_KEY = 64
# Parts of the multipart steps.
NoteField = Annotated[str, Form(max_length=MAX_NOTE)]
PhotoFiles = Annotated[list[UploadedFile] | None, File()]


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _photos(files: Sequence[UploadedFile] | None, *, field: str) -> list[CheckedPhoto]:
    """Check every upload (content, size, pixels) before any service runs."""
    files = list(files or [])
    if len(files) > MAX_PHOTOS:
        raise CaseError(
            CaseError.Code.BAD_INPUT,
            _("Send at most %(max)s photos at a time.") % {"max": MAX_PHOTOS},
            field=field,
        )
    return [check_photo(f, name=(f.name or "photo")[-100:], field=field) for f in files]


def _detail(case: Case, viewer: User) -> CaseDetailOut:
    """The full record as ``viewer`` may see it. A step answers with the case its service
    returns: the row it locked and updated, with the joins the answer renders."""
    return case_detail_out(
        case,
        viewer=viewer,
        now=timezone.now(),
        photos=list(case_photos(case=case)),
        pending=list(case_pending_requests(case=case)),
    )


def _act(request: HttpRequest, number: str) -> tuple[User, Case]:
    actor = _actor(request)
    return actor, access_case(actor=actor, case_ref=number, intent=Intent.ACT)


def _page(qs: QuerySet[Case], page: PageIn) -> CasePageOut:
    now = timezone.now()
    start = (page.page - 1) * page.page_size
    rows = list(qs[start : start + page.page_size])
    return CasePageOut(
        items=[case_out(c, now=now) for c in rows],
        count=qs.count(),
        page=page.page,
        page_size=page.page_size,
    )


# --------------------------------------------------------------------------- reads


@router.get("/categories", auth=None, response=list[CategoryOut], summary="Leaf categories")
def categories(request: HttpRequest) -> list[CategoryOut]:
    """The categories a resident may report under, with their place in the tree."""
    leaves = leaf_categories(public_only=True).select_related("parent__parent__parent")
    return [category_out(c) for c in leaves]


@router.get("/cases", response=CasePageOut, summary="Cases in scope")
def case_list(request: HttpRequest, filters: Query[CaseFiltersIn]) -> CasePageOut:
    """Staff: every case in their area or unit. Residents: their reports and followed cases."""
    actor = _actor(request)
    qs = (
        case_list_for_staff(user=actor)
        if actor.is_staff_role
        else case_list_for_resident(user=actor)
    )
    filtered = case_filter(
        qs,
        status=filters.status,
        category=filters.category,
        unit=filters.unit,
        overdue=filters.overdue,
        light=filters.light,
        now=timezone.now(),
    )
    return _page(filtered, filters)


@router.get("/cases/queue", response=CasePageOut, summary="The role's work queue")
def queue(request: HttpRequest, page: Query[PageIn]) -> CasePageOut:
    """Cases waiting for a step the caller's role takes, most urgent first."""
    return _page(case_queue(user=_actor(request)), page)


@router.get("/cases/duplicates", response=list[DuplicateOut], summary="Possible duplicates")
def duplicates(request: HttpRequest, query: Query[DuplicatesIn]) -> list[DuplicateOut]:
    """Open cases of the same category near a point, to follow instead of reporting again."""
    actor = _actor(request)
    leaves = leaf_categories(public_only=not actor.is_staff_role)
    category = leaves.filter(code=query.category).first()
    if category is None:
        raise CaseError(
            CaseError.Code.UNKNOWN_CATEGORY,
            _("Unknown category %(code)s.") % {"code": query.category},
            field="category",
        )
    found = case_duplicates_nearby(category=category, lat=query.lat, lng=query.lng)
    return [DuplicateOut(case=case_public_out(c), distance_m=round(d, 1)) for c, d in found]


@router.get("/cases/{number}", response=CaseDetailOut, summary="The full record of a case")
def case_detail(request: HttpRequest, number: str) -> CaseDetailOut:
    actor = _actor(request)
    case = access_case(actor=actor, case_ref=number, intent=Intent.VIEW)
    return _detail(case, actor)


@router.get(
    "/cases/{number}/photos/{photo_id}",
    response={200: None},
    summary="A photo of a case (the original for staff in scope, else the public copy)",
)
def case_photo_file(request: HttpRequest, number: str, photo_id: int) -> FileResponse:
    actor = _actor(request)
    case, full = access_case_full_or_public(actor=actor, case_ref=number)
    photo = case_photo(case=case, photo_id=photo_id)
    if photo is None:
        raise CaseError(CaseError.Code.NOT_FOUND, _("No such photo."), kind=ErrorKind.NOT_FOUND)
    stored, content_type = photo_file_for(photo, viewer=actor, full=full)
    response = FileResponse(stored.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@router.get("/cases/{number}/timeline", response=list[TraceOut], summary="A case's history")
def case_timeline_view(request: HttpRequest, number: str) -> list[TraceOut]:
    actor = _actor(request)
    case = access_case(actor=actor, case_ref=number, intent=Intent.VIEW)
    return [trace_out(t, viewer=actor, case_number=case.number) for t in case_timeline(case=case)]


# --------------------------------------------------------------------------- submission


@router.post(
    "/cases",
    response={200: CaseDetailOut, 201: CaseDetailOut},
    summary="Report a problem",
)
def case_create(
    request: HttpRequest,
    payload: CaseSubmitIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY
    ),
) -> HttpStatus[CaseDetailOut]:
    """201 with the new case; 200 with the earlier case when this caller already used the
    same ``Idempotency-Key`` (retries after a lost response create nothing)."""
    actor = _actor(request)
    kwargs: dict[str, Any] = {}
    if actor.is_staff_role:
        default = Source.PATROL if actor.role == Role.GRID_WORKER else Source.HOTLINE
        kwargs = {
            "source": payload.source or default,
            "reporter_name": payload.reporter_name,
            "reporter_phone": payload.reporter_phone,
        }
    key = (idempotency_key or "").strip()
    submission = case_submit(
        actor=actor,
        category=payload.category,
        description=payload.description,
        lat=payload.lat,
        lng=payload.lng,
        address=payload.address,
        nature=payload.nature,
        urgency=payload.urgency,
        is_anonymous=payload.is_anonymous,
        asset_ref=payload.asset_ref,
        attributes=payload.attributes,
        # Keys are per user: another account's key must never return someone else's case.
        submission_key=f"api:{actor.pk}:{key}" if key else None,
        **kwargs,
    )
    return HttpStatus(201 if submission.created else 200, _detail(submission.case, actor))


# --------------------------------------------------------------------------- intake steps


@router.post("/cases/{number}/accept", response=CaseDetailOut, summary="Accept (operator)")
def accept(request: HttpRequest, number: str, payload: AcceptIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_accept(
        actor=actor,
        case=case,
        note=payload.note,
        category=payload.category,
        urgency=payload.urgency,
    )
    return _detail(case, actor)


@router.post("/cases/{number}/cancel", response=CaseDetailOut, summary="Cancel (operator)")
def cancel(request: HttpRequest, number: str, payload: CancelIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    duplicate_of = None
    if payload.duplicate_of:
        duplicate_of = access_case(actor=actor, case_ref=payload.duplicate_of, intent=Intent.VIEW)
    case = case_cancel(
        actor=actor,
        case=case,
        reason=payload.reason or "",
        note=payload.note,
        duplicate_of=duplicate_of,
    )
    return _detail(case, actor)


@router.post("/cases/{number}/verify", response=CaseDetailOut, summary="Verify on site")
def verify(
    request: HttpRequest,
    number: str,
    note: NoteField = "",
    photos: PhotoFiles = None,
) -> CaseDetailOut:
    """Multipart: ``note`` and optional ``photos``."""
    actor, case = _act(request, number)
    checked = _photos(photos, field="photos")
    return _detail(case_verify(actor=actor, case=case, note=note, photos=checked), actor)


@router.post("/cases/{number}/file", response=CaseDetailOut, summary="File (shift leader)")
def file(request: HttpRequest, number: str, payload: NoteIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    return _detail(case_file(actor=actor, case=case, note=payload.note), actor)


@router.post("/cases/{number}/dispatch", response=CaseDetailOut, summary="Dispatch to a unit")
def dispatch(request: HttpRequest, number: str, payload: DispatchIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_dispatch(
        actor=actor, case=case, unit=payload.unit or None, note=payload.note, reason=payload.reason
    )
    return _detail(case, actor)


@router.post("/cases/{number}/transfer", response=CaseDetailOut, summary="Transfer")
def transfer(request: HttpRequest, number: str, payload: TransferIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_transfer(actor=actor, case=case, unit=payload.unit, reason=payload.reason)
    return _detail(case, actor)


@router.post("/cases/{number}/return-request", response=CaseDetailOut, summary="Not ours")
def return_request(request: HttpRequest, number: str, payload: ReasonIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    req = case_return_request(actor=actor, case=case, reason=payload.reason)
    return _detail(req.case, actor)


@router.post("/cases/{number}/return-decision", response=CaseDetailOut, summary="Decide return")
def return_decision(request: HttpRequest, number: str, payload: DecisionIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_return_decide(actor=actor, case=case, approve=payload.approve, note=payload.note)
    return _detail(case, actor)


# --------------------------------------------------------------------------- disposal


@router.post("/cases/{number}/start", response=CaseDetailOut, summary="Start work (unit)")
def start(request: HttpRequest, number: str, payload: NoteIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    return _detail(case_start(actor=actor, case=case, note=payload.note), actor)


@router.post("/cases/{number}/process", response=CaseDetailOut, summary="Report work done")
def process(
    request: HttpRequest,
    number: str,
    note: NoteField = "",
    photos: PhotoFiles = None,
) -> CaseDetailOut:
    """Multipart: ``note`` and at least one ``photos`` file."""
    actor, case = _act(request, number)
    checked = _photos(photos, field="photos")
    return _detail(case_process(actor=actor, case=case, note=note, photos=checked), actor)


@router.post("/cases/{number}/extension-request", response=CaseDetailOut, summary="More time")
def extension_request(request: HttpRequest, number: str, payload: ExtensionIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    req = case_extension_request(
        actor=actor, case=case, extra_minutes=payload.extra_minutes, reason=payload.reason
    )
    return _detail(req.case, actor)


@router.post("/cases/{number}/extension-decision", response=CaseDetailOut, summary="Decide")
def extension_decision(request: HttpRequest, number: str, payload: DecisionIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_extension_decide(actor=actor, case=case, approve=payload.approve, note=payload.note)
    return _detail(case, actor)


@router.post("/cases/{number}/hold-request", response=CaseDetailOut, summary="Pause the clock")
def hold_request(request: HttpRequest, number: str, payload: ReasonIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    req = case_hold_request(actor=actor, case=case, reason=payload.reason)
    return _detail(req.case, actor)


@router.post("/cases/{number}/hold-decision", response=CaseDetailOut, summary="Decide a hold")
def hold_decision(request: HttpRequest, number: str, payload: DecisionIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_hold_decide(actor=actor, case=case, approve=payload.approve, note=payload.note)
    return _detail(case, actor)


@router.post("/cases/{number}/resume", response=CaseDetailOut, summary="End a hold")
def resume(request: HttpRequest, number: str, payload: NoteIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    return _detail(case_resume(actor=actor, case=case, note=payload.note), actor)


# --------------------------------------------------------------------------- check and rate


@router.post("/cases/{number}/check-start", response=CaseDetailOut, summary="Go to check")
def check_start(request: HttpRequest, number: str) -> CaseDetailOut:
    actor, case = _act(request, number)
    return _detail(case_check_start(actor=actor, case=case), actor)


@router.post("/cases/{number}/check", response=CaseDetailOut, summary="Finish the check")
def check(
    request: HttpRequest,
    number: str,
    passed: Annotated[bool, Form()],
    note: NoteField = "",
    photos: PhotoFiles = None,
) -> CaseDetailOut:
    """Multipart: ``passed`` (true closes, false sends back for rework with ``note`` as the
    reason), ``note``, optional ``photos``."""
    actor, case = _act(request, number)
    checked = _photos(photos, field="photos")
    case = case_check_finish(actor=actor, case=case, passed=passed, note=note, photos=checked)
    return _detail(case, actor)


@router.post("/cases/{number}/rate", response=CaseDetailOut, summary="Rate (reporter)")
def rate(request: HttpRequest, number: str, payload: RateIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    rating = case_rate(
        actor=actor,
        case=case,
        satisfaction=payload.satisfaction,
        resolved=payload.resolved,
        contacted=payload.contacted,
        comment=payload.comment,
    )
    return _detail(rating.case, actor)


@router.post("/cases/{number}/self-handle", response=CaseDetailOut, summary="Fix on the spot")
def self_handle(
    request: HttpRequest,
    number: str,
    note: NoteField = "",
    before: PhotoFiles = None,
    after: PhotoFiles = None,
) -> CaseDetailOut:
    """Multipart: ``note``, ``before`` and ``after`` photos (at least one each)."""
    actor, case = _act(request, number)
    before_photos = _photos(before, field="before")
    after_photos = _photos(after, field="after")
    case = case_self_handle(
        actor=actor, case=case, note=note, before=before_photos, after=after_photos
    )
    return _detail(case, actor)


@router.post(
    "/cases/{number}/self-handle-review", response=CaseDetailOut, summary="Review a spot fix"
)
def self_handle_review(request: HttpRequest, number: str, payload: DecisionIn) -> CaseDetailOut:
    actor, case = _act(request, number)
    case = case_self_handle_review(
        actor=actor, case=case, approve=payload.approve, note=payload.note
    )
    return _detail(case, actor)


@router.post("/cases/{number}/follow", response=CasePublicOut, summary="Me too")
def follow(request: HttpRequest, number: str) -> CasePublicOut:
    """Follow an open case instead of reporting it again. Answers with the public projection:
    a follower is not the reporter and sees no more than the public does."""
    actor = _actor(request)
    case = access_case(actor=actor, case_ref=number, intent=Intent.VIEW_PUBLIC)
    return case_public_out(case_follow(actor=actor, case=case))


# --------------------------------------------------------------------------- public data

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _not_found(number: str) -> CaseError:
    return CaseError(
        CaseError.Code.NOT_FOUND,
        _("No case %(ref)s.") % {"ref": number[:20]},
        kind=ErrorKind.NOT_FOUND,
    )


@public_router.get(
    "/cases", auth=None, response=PublicCasePageOut, summary="Public cases, filtered and paged"
)
def public_case_list(request: HttpRequest, filters: Query[PublicCaseFiltersIn]) -> HttpResponse:
    """Every case anyone may see (not cancelled, in a public category), newest first, in the
    public projection: no reporter, no staff, no notes; anonymous reports' points rounded to
    about 100 m. The same for every caller, so the answer is kept briefly in the read cache
    (invalidated by every case write; see ``civicgrid.core.readcache``)."""

    def build() -> bytes:
        qs = case_filter_public(
            case_list_public(),
            state=filters.state,
            status=filters.status,
            category=filters.category,
            area=filters.area,
            since=filters.since,
            until=filters.until,
            bbox=filters.box,
        )
        start = (filters.page - 1) * filters.page_size
        rows = list(qs[start : start + filters.page_size])
        page = PublicCasePageOut(
            items=[public_case_out(c) for c in rows],
            count=qs.count(),
            page=filters.page,
            page_size=filters.page_size,
        )
        return json.dumps(page.model_dump(), cls=NinjaJSONEncoder).encode("utf-8")

    parts = ("api.public_cases", get_language(), sorted(request.GET.lists()))
    body = readcache.cached(readcache.CASES, parts, build)
    return HttpResponse(body, content_type=JSON_CONTENT_TYPE)


@public_router.get(
    "/cases/{number}",
    auth=None,
    response=PublicCaseDetailOut,
    summary="One public case with its timeline",
)
def public_case_detail(request: HttpRequest, number: str) -> PublicCaseDetailOut:
    """The public projection of one case and each step it went through (when, what, the
    responsible unit): never who or their notes. Unknown, cancelled and non-public cases are
    the same 404."""
    case = case_public_get(number=number)
    if case is None:
        raise _not_found(number)
    return public_case_detail_out(case, timeline=list(case_timeline_public(case=case)))


@public_router.get(
    "/categories",
    auth=None,
    response=list[PublicCategoryOut],
    summary="Categories residents may report under, with their questions",
)
def public_categories(request: HttpRequest) -> list[PublicCategoryOut]:
    """Public leaf categories with their path and their questions (Open311 attributes),
    questions and choices in the request's language."""
    leaves = leaf_categories(public_only=True).select_related("parent__parent__parent")
    return [public_category_out(c) for c in leaves]
