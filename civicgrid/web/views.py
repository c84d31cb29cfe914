"""Pages of the case loop. Views are thin: parse with a form, go through access_case, call a
service or a selector, then redirect or render. Every refusal comes from the services."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from civicgrid.accounts.errors import AccountError
from civicgrid.accounts.models import STAFF_ROLES, ClientKey, Role, User
from civicgrid.accounts.selectors import client_key_by_id, client_key_list, notification_list
from civicgrid.accounts.services import (
    client_key_issue,
    client_key_revoke,
    organization_create_client,
)
from civicgrid.cases import services
from civicgrid.cases.access import Intent, access_case, access_case_full_or_public
from civicgrid.cases.attributes import check_attribute_answers
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Case, Light, Source
from civicgrid.cases.photos import CheckedPhoto, check_photo, photo_file_for
from civicgrid.cases.schemas import sees_personal_data
from civicgrid.cases.selectors import (
    QUEUE_SEARCH_MAX,
    QueuePage,
    case_duplicates_nearby,
    case_list_for_resident,
    case_list_public,
    case_pending_requests,
    case_photos,
    case_queue_page,
    case_timeline,
)
from civicgrid.cases.selectors import (
    case_photo as select_case_photo,
)
from civicgrid.core import readcache
from civicgrid.core.errors import ErrorKind
from civicgrid.geo.basemap import BASEMAP_CACHE
from civicgrid.geo.selectors import basemap_geojson, cells_geojson

from . import reads
from .context_processors import LARGE_TEXT_COOKIE, large_text_on
from .forms import (
    STEP_FORMS,
    ClientKeyIssueForm,
    DuplicatesQuery,
    QuestionsForm,
    ReportForm,
    StepForm,
)
from .steps import available_steps

REPORTER_ROLES = (Role.RESIDENT, Role.GRID_WORKER, Role.OPERATOR)
QUEUE_PAGE_SIZE = 50
SOURCE_FOR_ROLE: dict[str, str] = {Role.GRID_WORKER: Source.PATROL, Role.OPERATOR: Source.HOTLINE}


def roles_required(
    *roles: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous users go to the login page; logged-in users of another role get 404, as if the
    page did not exist (administrators pass everywhere)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            user = _logged_in(request)
            if not user.has_role(*roles):
                raise Http404(_("Page not found."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _user(request: HttpRequest) -> User | None:
    return cast(User, request.user) if request.user.is_authenticated else None


def _logged_in(request: HttpRequest) -> User:
    """The user of a view behind roles_required (so never anonymous)."""
    return cast(User, request.user)


def _case_url(case: Case) -> str:
    return reverse("web:case", kwargs={"number": case.number})


# --------------------------------------------------------------------------- home and lists


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {}
    if user is None:
        context["public_cases"] = case_list_public()[:10]
    elif user.role == Role.RESIDENT:
        context["my_cases"] = case_list_for_resident(user=user)[:5]
    else:
        queue = case_queue_page(user=user, page_size=5)
        context["queue_rows"] = queue.rows
        context["queue_count"] = queue.total
        context["light_counts"] = _light_counts(queue)
        context["notifications"] = notification_list(user=user)[:10]
    return render(request, "web/home.html", context)


@require_GET
def public_cases(request: HttpRequest) -> HttpResponse:
    page = Paginator(case_list_public(), 50).get_page(request.GET.get("page"))
    return render(request, "web/public_cases.html", {"page_obj": page})


@roles_required(Role.RESIDENT)
@require_GET
def my_cases(request: HttpRequest) -> HttpResponse:
    user = _logged_in(request)
    return render(request, "web/my_cases.html", {"cases": case_list_for_resident(user=user)})


@roles_required(*STAFF_ROLES)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    user = _logged_in(request)
    light = request.GET.get("light", "")
    light = light if light in Light.values else ""
    search = " ".join(request.GET.get("q", "").split())[:QUEUE_SEARCH_MAX]
    page = _page_number(request)

    def table() -> str:
        queue = case_queue_page(
            user=user, light=light, search=search, page=page, page_size=QUEUE_PAGE_SIZE
        )
        context = {
            "queue": queue,
            "light": light,
            "search": search,
            "light_counts": _light_counts(queue),
        }
        return render_to_string("web/partials/queue_table.html", context)

    # The table is the same until a case changes (or the user's scope does): kept in the read
    # cache, which every case write invalidates, under everything the queue depends on.
    scope = (user.pk, user.role, user.organization_id, user.area_code)
    parts = ("web.queue", *scope, light, search, page, get_language())
    html = readcache.cached(readcache.CASES, parts, table)
    context = {"table": mark_safe(html), "search": search}  # noqa: S308 (our own template)
    return render(request, "web/queue.html", context)


def _page_number(request: HttpRequest) -> int:
    """``?page=`` as a page number; anything else is the first page (as Paginator.get_page)."""
    text = request.GET.get("page", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else 1


def _light_counts(queue: QueuePage) -> list[tuple[str, str, int]]:
    return [(value, str(label), queue.light_counts[value]) for value, label in Light.choices]


# --------------------------------------------------------------------------- reporting


def _checked(files: list[Any], field: str) -> list[CheckedPhoto]:
    return [check_photo(f, name=getattr(f, "name", "photo"), field=field) for f in files]


def _report_form(
    request: HttpRequest, user: User, data: Any = None, files: Any = None
) -> ReportForm:
    return ReportForm(
        data,
        files,
        public_only=user.role == Role.RESIDENT,
        with_caller=user.role in (Role.OPERATOR, Role.ADMINISTRATOR),
        initial={"submission_key": uuid.uuid4().hex},
    )


def _questions_form(user: User, code: str, data: Any = None) -> tuple[Any, QuestionsForm]:
    """The chosen category (or ``None``) and the form of its questions."""
    category, definitions = reads.category_questions(
        (code or "").strip(), public_only=user.role == Role.RESIDENT
    )
    return category, QuestionsForm(data, definitions=definitions)


def _add_report_error(form: ReportForm, questions: QuestionsForm, error: CaseError) -> None:
    """Put a service refusal next to its field: ``attributes.<code>`` next to that question."""
    field = error.field or ""
    if field.startswith("attributes."):
        name = questions.field_for(field.removeprefix("attributes."))
        if name is not None:
            questions.add_error(name, error.message)
            return
        form.add_error(None, error.message)
        return
    if field in ("location", "lat", "lng"):
        form.add_location_error(error.message)
        return
    _add_error(form, error)


@roles_required(*REPORTER_ROLES)
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    user = _logged_in(request)
    status = 200
    if request.method == "POST":
        form = _report_form(request, user, request.POST, request.FILES)
        category, questions = _questions_form(user, request.POST.get("category", ""), request.POST)
        form_ok = form.is_valid()
        questions_ok = questions.is_valid()
        if form_ok and questions_ok:
            data = form.cleaned_data
            try:
                submission = services.case_submit(
                    actor=user,
                    category=data["category"],
                    description=data["description"],
                    lat=data["lat"],
                    lng=data["lng"],
                    address=data["address"],
                    urgency=data["urgency"],
                    source=SOURCE_FOR_ROLE.get(user.role, Source.RESIDENT),
                    photos=_checked(data["photos"], "photos"),
                    is_anonymous=data["is_anonymous"],
                    reporter_name=data.get("reporter_name", ""),
                    reporter_phone=data.get("reporter_phone", ""),
                    # Per user, as in the API: another account's key never returns this case.
                    submission_key=(
                        f"web:{user.pk}:{data['submission_key']}"
                        if data["submission_key"]
                        else None
                    ),
                    attributes=questions.answers(),
                )
            except CaseError as error:
                _add_report_error(form, questions, error)
                status = error.http_status
            else:
                messages.success(
                    request,
                    _("Thank you. Your report is case number %(number)s.")
                    % {"number": submission.case.number},
                )
                return redirect(_case_url(submission.case))
        else:
            status = 400
            if category is not None and questions_ok:
                # The answers' error in the same pass as the form's; the service checks again.
                try:
                    check_attribute_answers(category, questions.answers())
                except CaseError as error:
                    _add_report_error(form, questions, error)
    else:
        form = _report_form(request, user)
        category, questions = _questions_form(user, "")
    form.mark_location_errors()
    context = {
        "form": form,
        "questions_form": questions,
        "category": category,
        "error_summary": form.error_summary(questions) if form.is_bound else [],
    }
    return render(request, "web/report.html", context, status=status)


@roles_required(*REPORTER_ROLES)
@require_GET
def report_questions(request: HttpRequest) -> HttpResponse:
    """The htmx partial under the category select: the chosen category's questions (empty for
    no category, or one the user may not report under)."""
    user = _logged_in(request)
    category, questions = _questions_form(user, request.GET.get("category", ""))
    return render(
        request,
        "web/partials/questions.html",
        {"questions_form": questions, "category": category},
    )


@roles_required(*REPORTER_ROLES)
@require_GET
def report_duplicates(request: HttpRequest) -> HttpResponse:
    """The htmx partial under the report form: open cases of the same category nearby."""
    query = DuplicatesQuery(request.GET)
    found: list[tuple[Case, float]] = []
    if query.is_valid():
        data = query.cleaned_data
        if data["category"] and data["lat"] is not None and data["lng"] is not None:
            user = _logged_in(request)
            category = reads.leaf_category_by_code(
                data["category"], public_only=user.role == Role.RESIDENT
            )
            if category is not None:
                found = case_duplicates_nearby(category=category, lat=data["lat"], lng=data["lng"])
    return render(request, "web/partials/duplicates.html", {"duplicates": found})


# --------------------------------------------------------------------------- the case page


def _step_card(step: str, form: StepForm, case: Case) -> dict[str, Any]:
    """What the case page draws for one step: title, button, form, and for a step that cannot
    be undone the danger style and the question its confirm dialog asks."""
    title, button = STEP_TEXT[step]
    question, yes = CONFIRM_TEXT.get(step, ("", ""))
    return {
        "step": step,
        "title": title,
        "button": button,
        "form": form,
        "danger": bool(question),
        "confirm": str(question) % {"number": case.number} if question else "",
        "confirm_yes": yes,
    }


# Steps that cannot be undone: a red button, and a dialog asking first (web/confirm.js):
# step → (the question, the answer that goes ahead).
CONFIRM_TEXT: dict[str, tuple[Any, Any]] = {
    "cancel": (
        gettext_lazy(
            "Cancel case %(number)s? It leaves every work queue and cannot be reopened; the "
            "reporter is told."
        ),
        gettext_lazy("Yes, cancel the case"),
    ),
}

STEP_TEXT: dict[str, tuple[Any, Any]] = {
    "accept": (gettext_lazy("Accept the report"), gettext_lazy("Accept")),
    "cancel": (gettext_lazy("Cancel the case"), gettext_lazy("Cancel case…")),
    "verify": (gettext_lazy("Verify on site"), gettext_lazy("Verified")),
    "file": (gettext_lazy("File the case"), gettext_lazy("File")),
    "dispatch": (gettext_lazy("Dispatch to a unit"), gettext_lazy("Dispatch")),
    "transfer": (gettext_lazy("Transfer to another unit"), gettext_lazy("Transfer")),
    "return_request": (gettext_lazy("Not ours: ask to return it"), gettext_lazy("Ask to return")),
    "return_decide": (gettext_lazy("Decide on the return request"), gettext_lazy("Decide")),
    "start": (gettext_lazy("Start the work"), gettext_lazy("Start")),
    "process": (gettext_lazy("Report the work done"), gettext_lazy("Processed")),
    "extension_request": (gettext_lazy("Ask for more time"), gettext_lazy("Ask for extension")),
    "extension_decide": (gettext_lazy("Decide on the extension"), gettext_lazy("Decide")),
    "hold_request": (gettext_lazy("Ask to pause the clock"), gettext_lazy("Ask for hold")),
    "hold_decide": (gettext_lazy("Decide on the hold"), gettext_lazy("Decide")),
    "resume": (gettext_lazy("End the hold"), gettext_lazy("Resume")),
    "check_start": (gettext_lazy("Go and check the work"), gettext_lazy("Start check")),
    "check_finish": (gettext_lazy("Finish the check"), gettext_lazy("Save check")),
    "rate": (gettext_lazy("Rate the result"), gettext_lazy("Send rating")),
    "self_handle": (gettext_lazy("Fixed it on the spot"), gettext_lazy("Close as handled")),
    "self_handle_review": (gettext_lazy("Review on-the-spot handling"), gettext_lazy("Decide")),
    "follow": (gettext_lazy("Me too: follow this case"), gettext_lazy("Follow")),
}


def _load_case(request: HttpRequest, number: str) -> tuple[Case, bool]:
    """The case and whether the user sees the full record (else the public projection)."""
    try:
        return access_case_full_or_public(actor=_user(request), case_ref=number)
    except CaseError:
        raise Http404(_("No such case.")) from None


def _public_point(case: Case, full: bool) -> tuple[float | None, float | None]:
    if full:
        return case.lat, case.lng
    return case.public_point()


def _render_case(
    request: HttpRequest,
    case: Case,
    full: bool,
    *,
    bound: StepForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    pending = list(case_pending_requests(case=case)) if full else []
    steps = available_steps(user, case, pending={r.kind for r in pending})
    step_forms = []
    for step in steps:
        form = bound if bound is not None and bound.step == step else STEP_FORMS[step]()
        step_forms.append(_step_card(step, form, case))
    if bound is not None and bound.step not in steps:
        step_forms.append(_step_card(bound.step, bound, case))
    lat, lng = _public_point(case, full)
    staff = full and user is not None and user.is_staff_role
    context = {
        "case": case,
        "full": full,
        # The reporter's name and phone: the roles that call back (as in the API), not every
        # staff member in scope; staff in scope see who took each step.
        "show_personal": staff and user is not None and sees_personal_data(user, case),
        "show_actors": staff,
        "is_reporter": user is not None and case.reporter_id == user.pk,
        "lat": lat,
        "lng": lng,
        "timeline": case_timeline(case=case),
        "pending": pending,
        "photos": list(case_photos(case=case)),
        "answers": reads.case_answers(case),
        "step_forms": step_forms,
        "error_step": bound.step if bound is not None else "",
    }
    return render(request, "web/case_detail.html", context, status=status)


@require_GET
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    case, full = _load_case(request, number)
    return _render_case(request, case, full)


@require_GET
def case_photo(request: HttpRequest, number: str, photo_id: int) -> FileResponse:
    """A photo of a case: the original for staff who see the case, the public copy (re-encoded,
    no EXIF) for everyone else."""
    case, full = _load_case(request, number)
    photo = select_case_photo(case=case, photo_id=photo_id)
    if photo is None:
        raise Http404(_("No such photo."))
    stored, content_type = photo_file_for(photo, viewer=_user(request), full=full)
    response = FileResponse(stored.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --------------------------------------------------------------------------- workflow steps


def _decision(data: dict[str, Any]) -> bool:
    return data["decision"] == "approve"


def _cancel(user: User, case: Case, data: dict[str, Any]) -> Any:
    duplicate = None
    if data["duplicate_of"]:
        try:
            duplicate = access_case(actor=user, case_ref=data["duplicate_of"], intent=Intent.VIEW)
        except CaseError as error:
            raise CaseError(error.code, error.message, field="duplicate_of") from None
    return services.case_cancel(
        actor=user, case=case, reason=data["reason"], note=data["note"], duplicate_of=duplicate
    )


StepHandler = Callable[[User, Case, dict[str, Any]], Any]

STEP_HANDLERS: dict[str, StepHandler] = {
    "accept": lambda u, c, d: services.case_accept(
        actor=u, case=c, note=d["note"], urgency=d["urgency"] or None
    ),
    "cancel": _cancel,
    "verify": lambda u, c, d: services.case_verify(
        actor=u, case=c, note=d["note"], photos=_checked(d["photos"], "photos")
    ),
    "file": lambda u, c, d: services.case_file(actor=u, case=c, note=d["note"]),
    "dispatch": lambda u, c, d: services.case_dispatch(
        actor=u, case=c, unit=d["unit"], note=d["note"], reason=d["reason"]
    ),
    "transfer": lambda u, c, d: services.case_transfer(
        actor=u, case=c, unit=d["unit"], reason=d["reason"]
    ),
    "return_request": lambda u, c, d: services.case_return_request(
        actor=u, case=c, reason=d["reason"]
    ),
    "return_decide": lambda u, c, d: services.case_return_decide(
        actor=u, case=c, approve=_decision(d), note=d["note"]
    ),
    "start": lambda u, c, d: services.case_start(actor=u, case=c, note=d["note"]),
    "process": lambda u, c, d: services.case_process(
        actor=u, case=c, note=d["note"], photos=_checked(d["photos"], "photos")
    ),
    "extension_request": lambda u, c, d: services.case_extension_request(
        actor=u, case=c, extra_minutes=d["extra_hours"] * 60, reason=d["reason"]
    ),
    "extension_decide": lambda u, c, d: services.case_extension_decide(
        actor=u, case=c, approve=_decision(d), note=d["note"]
    ),
    "hold_request": lambda u, c, d: services.case_hold_request(actor=u, case=c, reason=d["reason"]),
    "hold_decide": lambda u, c, d: services.case_hold_decide(
        actor=u, case=c, approve=_decision(d), note=d["note"]
    ),
    "resume": lambda u, c, d: services.case_resume(actor=u, case=c, note=d["note"]),
    "check_start": lambda u, c, d: services.case_check_start(actor=u, case=c),
    "check_finish": lambda u, c, d: services.case_check_finish(
        actor=u,
        case=c,
        passed=d["result"] == "pass",
        note=d["note"],
        photos=_checked(d["photos"], "photos"),
    ),
    "rate": lambda u, c, d: services.case_rate(
        actor=u,
        case=c,
        satisfaction=d["satisfaction"],
        resolved=d["resolved"],
        contacted=d["contacted"],
        comment=d["comment"],
    ),
    "self_handle": lambda u, c, d: services.case_self_handle(
        actor=u,
        case=c,
        note=d["note"],
        before=_checked(d["before"], "before"),
        after=_checked(d["after"], "after"),
    ),
    "self_handle_review": lambda u, c, d: services.case_self_handle_review(
        actor=u, case=c, approve=_decision(d), note=d["note"]
    ),
    "follow": lambda u, c, d: services.case_follow(actor=u, case=c),
}

# Service field names that a form calls differently.
FIELD_ALIASES = {"extra_minutes": "extra_hours"}


def _add_error(form: Any, error: CaseError) -> None:
    field = FIELD_ALIASES.get(error.field or "", error.field)
    form.add_error(field if field in form.fields else None, error.message)


@require_POST
def case_step(request: HttpRequest, number: str, step: str) -> HttpResponse:
    """Run one workflow step from its form, then go back to the case page with a message; on a
    refusal, show the case page again with the error next to the field."""
    if step not in STEP_HANDLERS:
        raise Http404(_("No such step."))
    user = _user(request)
    if user is None:
        return redirect_to_login(reverse("web:case", kwargs={"number": number}))
    intent = Intent.VIEW_PUBLIC if step == "follow" else Intent.ACT
    try:
        case = access_case(actor=user, case_ref=number, intent=intent)
    except CaseError:
        raise Http404(_("No such case.")) from None
    form = STEP_FORMS[step](request.POST, request.FILES)
    status = 400
    if form.is_valid():
        try:
            STEP_HANDLERS[step](user, case, form.cleaned_data)
        except CaseError as error:
            if error.kind == ErrorKind.NOT_FOUND and not error.field:
                raise Http404(error.message) from None
            _add_error(form, error)
            status = error.http_status
        else:
            title, _button = STEP_TEXT[step]
            messages.success(
                request,
                _("Case %(number)s: %(step)s — done.") % {"number": case.number, "step": title},
            )
            if request.htmx:  # type: ignore[attr-defined]  # set by HtmxMiddleware
                return HttpResponseClientRedirect(_case_url(case))
            return redirect(_case_url(case))
    case, full = _load_case(request, number)
    return _render_case(request, case, full, bound=form, status=status)


# --------------------------------------------------------------------------- Open311 API keys

OPEN311_REQUESTS_PATH = "/open311/v2/requests.json"
# Errors of organization_create_client, by the form field they belong next to.
NEW_ORGANIZATION_FIELDS = {"code": "new_code", "name": "new_name", "name_en": "new_name_en"}


@transaction.atomic
def _issue_client_key(user: User, data: dict[str, Any]) -> tuple[ClientKey, str]:
    """Issue a key to the chosen organization, or create the new client organization first;
    both in one transaction, so a refused key leaves no organization behind."""
    organization = data["organization"]
    if organization is None:
        try:
            organization = organization_create_client(
                actor=user,
                code=data["new_code"],
                name=data["new_name"],
                name_en=data["new_name_en"],
            )
        except AccountError as error:
            error.field = NEW_ORGANIZATION_FIELDS.get(error.field or "", error.field)
            raise
    return client_key_issue(
        actor=user,
        organization=organization,
        name=data["name"],
        rate_per_minute=data["rate_per_minute"],
    )


def _curl_example(request: HttpRequest, raw: str) -> str:
    code, lat, lng = reads.sample_submission()
    parts = [
        ("api_key", raw),
        ("service_code", code),
        ("lat", f"{lat:.6f}"),
        ("long", f"{lng:.6f}"),
        ("description", _("A test request: please ignore it")),
    ]
    data = " ".join(f"-d {shlex.quote(f'{name}={value}')}" for name, value in parts)
    return f"curl {data} {shlex.quote(request.build_absolute_uri(OPEN311_REQUESTS_PATH))}"


def _no_store(response: HttpResponse) -> HttpResponse:
    # The page may hold a raw key: no cache (browser or proxy) may keep it.
    response["Cache-Control"] = "no-store"
    return response


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def client_keys(request: HttpRequest) -> HttpResponse:
    """Administrators list the Open311 keys and issue new ones. A new key is shown once, in
    the answer to the POST that issued it; nothing stores it."""
    user = _logged_in(request)
    status = 200
    issued: dict[str, Any] | None = None
    if request.method == "POST":
        form = ClientKeyIssueForm(request.POST)
        if form.is_valid():
            try:
                key, raw = _issue_client_key(user, form.cleaned_data)
            except AccountError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, error.message)
                status = error.http_status
            else:
                issued = {"key": key, "raw": raw, "curl": _curl_example(request, raw)}
                form = ClientKeyIssueForm()
        else:
            status = 400
    else:
        form = ClientKeyIssueForm()
    context = {"form": form, "keys": client_key_list(), "issued": issued}
    return _no_store(render(request, "web/client_keys.html", context, status=status))


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def client_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    """Ask to confirm (GET), then revoke (POST) one key; a key revoked already is refused with
    409 and the page says so."""
    key = client_key_by_id(key_id)
    if key is None:
        raise Http404(_("No such API key."))
    status = 200
    error_message = ""
    if request.method == "POST":
        try:
            client_key_revoke(actor=_logged_in(request), key=key)
        except AccountError as error:
            error_message = error.message
            status = error.http_status
        else:
            messages.success(
                request,
                _("API key %(prefix)s… (%(name)s) is revoked; requests with it are refused.")
                % {"prefix": key.prefix, "name": key.name},
            )
            return redirect("web:client_keys")
    return render(
        request,
        "web/client_key_revoke.html",
        {"key": key, "error_message": error_message},
        status=status,
    )


# --------------------------------------------------------------------------- map and settings


@require_GET
def map_cells(request: HttpRequest) -> JsonResponse:
    """Grid cells as GeoJSON for the maps (public: cell outlines are not personal data)."""
    response = JsonResponse(cells_geojson())
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def map_basemap(request: HttpRequest) -> HttpResponse:
    """The offline base map as GeoJSON (public: streets and buildings, no personal data),
    drawn under the cells when no tile server is configured. Kept in the read cache until the
    next import, and by browsers for five minutes."""
    body = readcache.cached(
        BASEMAP_CACHE,
        ("web.basemap",),
        lambda: json.dumps(basemap_geojson(), separators=(",", ":")),
    )
    response = HttpResponse(body, content_type="application/geo+json")
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_POST
def large_text(request: HttpRequest) -> HttpResponse:
    """Switch large-text mode for this browser (a cookie, so it works before logging in)."""
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    on = not large_text_on(request)
    response.set_cookie(
        LARGE_TEXT_COOKIE,
        "1" if on else "0",
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=not settings.DEBUG and request.is_secure(),
    )
    return response
