"""Reading and checking Open311 input: the format suffix, query strings and POSTed forms.

Rules of the standard applied everywhere: an empty optional parameter is the same as an absent
one (``jurisdiction_id=`` included), values are trimmed, and every problem found in one request
is reported together (an :class:`Open311Error` with several ``problems``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _

from civicgrid.core.datetimes import W3DateTimeError, parse_w3_datetime
from civicgrid.core.errors import ErrorKind

from .errors import Open311Error, Problem
from .mapping import CLOSED, OPEN

FORMATS = ("xml", "json")
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_DESCRIPTION = 4000
MAX_IDEMPOTENCY_KEY = 64
MAX_WINDOW = dt.timedelta(days=90)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Markup in a description: a "<" followed by a letter, "/" or "!" and closed by ">". "<3" and
# "a < b" are plain text.
HTML_TAG_RE = re.compile(r"<[A-Za-z/!][^>]*>")
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
ADDRESS_ID_RE = re.compile(r"^\d{15}$")
# attribute[code] (one value, or the key repeated) and attribute[code][] (a list).
ATTRIBUTE_RE = re.compile(r"^attribute\[([^\[\]]*)\](\[\])?$")
TRUE_VALUES = frozenset({"true", "1"})
FALSE_VALUES = frozenset({"false", "0"})


def check_format(fmt: str) -> str:
    """``xml`` or ``json``; any other suffix names no resource (404)."""
    if fmt not in FORMATS:
        raise Open311Error(
            Open311Error.Code.NOT_FOUND,
            _("Unknown format %(format)s: use .xml or .json.") % {"format": fmt[:20]},
            kind=ErrorKind.NOT_FOUND,
        )
    return fmt


def value_of(params: QueryDict, name: str) -> str:
    """The trimmed value of a parameter; "" when absent or empty (the two are the same)."""
    return (params.get(name) or "").strip()


# Characters no text column can store: NUL (PostgreSQL refuses it) and lone surrogates.
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def check_characters(*sources: QueryDict) -> None:
    """Refuse (400, every parameter named) names and values holding a character no database
    column can store, before anything reads them: NUL, or half of a surrogate pair."""
    problems: list[Problem] = []
    for params in sources:
        for name, values in params.lists():
            if UNSTORABLE_RE.search(name) or any(UNSTORABLE_RE.search(v) for v in values):
                shown = UNSTORABLE_RE.sub("?", name)[:60]
                problems.append(
                    (
                        shown,
                        _(
                            "%(name)s holds a character that cannot be stored "
                            "(NUL or half of a surrogate pair)."
                        )
                        % {"name": shown},
                    )
                )
    if problems:
        raise Open311Error.invalid(problems)


def check_jurisdiction(*sources: QueryDict) -> None:
    """Accept no ``jurisdiction_id`` (or an empty one) and the configured one; any other is an
    unknown resource (404). The configured one is ``CIVICGRID_OPEN311_JURISDICTION``, else the
    district code."""
    given = ""
    for params in sources:
        given = given or value_of(params, "jurisdiction_id")
    if not given:
        return
    accepted = settings.CIVICGRID_OPEN311_JURISDICTION.strip() or settings.CIVICGRID_DISTRICT_CODE
    if given.lower() != accepted.strip().lower():
        raise Open311Error(
            Open311Error.Code.UNKNOWN_JURISDICTION,
            _("Unknown jurisdiction_id %(value)s: this server serves %(accepted)s.")
            % {"value": given[:60], "accepted": accepted},
            field="jurisdiction_id",
            kind=ErrorKind.NOT_FOUND,
        )


def form_of(request: HttpRequest) -> QueryDict:
    """The POSTed fields. Only form encodings are read (``application/x-www-form-urlencoded``
    as the standard says, and ``multipart/form-data``); anything else is refused (400)."""
    if request.content_type not in FORM_CONTENT_TYPES:
        raise Open311Error(
            Open311Error.Code.BAD_CONTENT_TYPE,
            _(
                "Send the request's fields form-encoded (application/x-www-form-urlencoded), "
                "not as %(type)s."
            )
            % {"type": (request.content_type or _("an empty content type"))[:60]},
            kind=ErrorKind.INVALID,
        )
    try:
        return request.POST
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent):
        raise Open311Error(
            Open311Error.Code.BAD_CONTENT_TYPE,
            _("The request body could not be read as a form."),
            kind=ErrorKind.INVALID,
        ) from None


def api_key_of(query: QueryDict, form: QueryDict) -> str:
    """The ``api_key``, from the body or, as the Python ``open311`` client sends it, the query."""
    return value_of(form, "api_key") or value_of(query, "api_key")


def idempotency_key_of(request: HttpRequest) -> str | None:
    """The ``Idempotency-Key`` header (at most 64 characters), or ``None``."""
    raw = (request.headers.get("Idempotency-Key") or "").strip()
    if not raw:
        return None
    if len(raw) > MAX_IDEMPOTENCY_KEY:
        raise Open311Error.invalid(
            [
                (
                    "Idempotency-Key",
                    _("The Idempotency-Key header has at most %(max)d characters.")
                    % {"max": MAX_IDEMPOTENCY_KEY},
                )
            ]
        )
    return raw


def _number(raw: str, name: str, low: float, high: float, problems: list[Problem]) -> float | None:
    if not NUMBER_RE.match(raw):
        problems.append((name, _("%(name)s must be a number.") % {"name": name}))
        return None
    number = float(raw)
    if not math.isfinite(number) or not low <= number <= high:
        problems.append(
            (
                name,
                _("%(name)s %(value)s is out of range (%(low)s to %(high)s).")
                % {"name": name, "value": raw[:30], "low": int(low), "high": int(high)},
            )
        )
        return None
    return number


# --------------------------------------------------------------------------- POST requests


@dataclass(frozen=True)
class NewRequest:
    """The fields of ``POST requests``, checked for shape (lookups happen afterwards)."""

    service_code: str
    lat: float | None
    lng: float | None
    address_string: str
    address_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    media_url: str = ""

    @property
    def reporter_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_anonymous(self) -> bool:
        return not (self.first_name or self.last_name)

    @property
    def client_ref(self) -> str:
        return self.account_id or self.device_id


def attributes_of(form: QueryDict) -> dict[str, Any]:
    """``attribute[code]=v`` → ``{code: v}``; ``attribute[code][]=a&attribute[code][]=b`` and
    a repeated ``attribute[code]`` → ``{code: [a, b]}``."""
    answers: dict[str, Any] = {}
    for key, values in form.lists():
        match = ATTRIBUTE_RE.match(key)
        if match is None:
            continue
        code, is_list = match[1].strip(), bool(match[2])
        previous = answers.get(code)
        if previous is not None:
            merged = previous if isinstance(previous, list) else [previous]
            answers[code] = merged + list(values)
        elif is_list or len(values) > 1:
            answers[code] = list(values)
        else:
            answers[code] = values[0]
    return answers


def parse_new_request(form: QueryDict) -> NewRequest:
    """Check the shape of a new request: a service_code, one location (``lat`` + ``long``,
    ``address_string`` or ``address_id``), numbers in range, a plain-text description of at
    most 4000 characters. Every problem is listed; category, cell and attribute answers are
    checked against the data afterwards (by the lookups and ``case_submit``)."""
    problems: list[Problem] = []
    service_code = value_of(form, "service_code")
    if not service_code:
        problems.append(("service_code", _("service_code is required.")))
    raw_lat, raw_lng = value_of(form, "lat"), value_of(form, "long")
    address_string = value_of(form, "address_string")
    address_id = value_of(form, "address_id")
    lat = lng = None
    if raw_lat or raw_lng:
        if not raw_lat:
            problems.append(("lat", _("Give lat together with long.")))
        elif not raw_lng:
            problems.append(("long", _("Give long together with lat.")))
        else:
            lat = _number(raw_lat, "lat", -90, 90, problems)
            lng = _number(raw_lng, "long", -180, 180, problems)
    elif not address_string and not address_id:
        problems.append(
            ("", _("A request needs a location: lat and long, address_string or address_id."))
        )
    if address_id and not ADDRESS_ID_RE.match(address_id):
        problems.append(("address_id", _("address_id is the 15-digit code of a grid cell.")))
    description = value_of(form, "description")
    if len(description) > MAX_DESCRIPTION:
        problems.append(
            (
                "description",
                _("description is %(length)d characters long; at most %(max)d are allowed.")
                % {"length": len(description), "max": MAX_DESCRIPTION},
            )
        )
    if HTML_TAG_RE.search(description):
        problems.append(("description", _("description must be plain text, without HTML.")))
    if problems:
        raise Open311Error.invalid(problems)
    return NewRequest(
        service_code=service_code,
        lat=lat,
        lng=lng,
        address_string=address_string,
        address_id=address_id,
        attributes=attributes_of(form),
        description=description,
        email=value_of(form, "email"),
        device_id=value_of(form, "device_id"),
        account_id=value_of(form, "account_id"),
        first_name=value_of(form, "first_name"),
        last_name=value_of(form, "last_name"),
        phone=value_of(form, "phone"),
        media_url=value_of(form, "media_url"),
    )


# --------------------------------------------------------------------------- GET requests


@dataclass(frozen=True)
class RequestQuery:
    """The filters of ``GET requests``. ``ids``, when given, replace every other filter."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: tuple[str, ...] = ()
    page: int | None = None
    page_size: int | None = None
    extensions: bool = False


def _comma_list(params: QueryDict, name: str) -> tuple[str, ...]:
    items = (item.strip() for item in value_of(params, name).split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _date(params: QueryDict, name: str, problems: list[Problem]) -> dt.datetime | None:
    raw = value_of(params, name)
    if not raw:
        return None
    try:
        return parse_w3_datetime(raw)
    except W3DateTimeError as exc:
        problems.append(
            (
                name,
                _(
                    "%(name)s must be a W3C date-time with its zone, such as "
                    "2026-11-28T09:30:00+08:00 (%(reason)s)."
                )
                % {"name": name, "reason": exc},
            )
        )
        return None


def _whole(
    params: QueryDict, name: str, low: int, high: int, problems: list[Problem]
) -> int | None:
    raw = value_of(params, name)
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        problems.append(
            (
                name,
                _("%(name)s must be a whole number from %(low)d to %(high)d.")
                % {"name": name, "low": low, "high": high},
            )
        )
        return None
    return int(raw)


def extensions_of(params: QueryDict, problems: list[Problem]) -> bool:
    raw = value_of(params, "extensions").lower()
    if not raw or raw in FALSE_VALUES:
        return False
    if raw in TRUE_VALUES:
        return True
    problems.append(("extensions", _("extensions must be true or false.")))
    return False


def parse_extensions(params: QueryDict) -> bool:
    """The ``extensions`` switch alone (for ``GET requests/{id}``)."""
    problems: list[Problem] = []
    on = extensions_of(params, problems)
    if problems:
        raise Open311Error.invalid(problems)
    return on


def _shifted(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``moment + delta``, held at the calendar's ends (year 1 or 9999) instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        edge = dt.datetime.max if delta > dt.timedelta(0) else dt.datetime.min
        return edge.replace(tzinfo=dt.UTC)


def _window(
    start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime, problems: list[Problem]
) -> tuple[dt.datetime | None, dt.datetime | None]:
    if start is None and end is None:
        return now - MAX_WINDOW, None
    if end is None:
        assert start is not None
        return start, _shifted(start, MAX_WINDOW)
    if start is None:
        return _shifted(end, -MAX_WINDOW), end
    if start > end:
        problems.append(("start_date", _("start_date is after end_date.")))
    elif end - start > MAX_WINDOW:
        problems.append(("end_date", _("start_date and end_date may be at most 90 days apart.")))
    return start, end


def parse_request_query(params: QueryDict, *, now: dt.datetime) -> RequestQuery:
    """Check the filters of ``GET requests``.

    Dates are W3C date-times with a zone. Without dates the window is the last 90 days; with
    one of them it extends 90 days from it; both may be at most 90 days apart, start first.
    ``status`` is a comma list of ``open`` and ``closed``. Paging (``page`` ≥ 1, ``page_size``
    1–1000, 100 by default) and ``extensions`` are this server's extensions.
    """
    problems: list[Problem] = []
    statuses = tuple(s.lower() for s in _comma_list(params, "status"))
    for status in statuses:
        if status not in (OPEN, CLOSED):
            problems.append(
                (
                    "status",
                    _("Unknown status %(value)s: use open, closed or both (open,closed).")
                    % {"value": status[:20]},
                )
            )
    start = _date(params, "start_date", problems)
    end = _date(params, "end_date", problems)
    if not any(field == "start_date" or field == "end_date" for field, _m in problems):
        start, end = _window(start, end, now, problems)
    page = _whole(params, "page", 1, 1_000_000, problems)
    page_size = _whole(params, "page_size", 1, MAX_PAGE_SIZE, problems)
    extensions = extensions_of(params, problems)
    if problems:
        raise Open311Error.invalid(problems)
    if page is not None or page_size is not None:
        page = page or 1
        page_size = page_size or DEFAULT_PAGE_SIZE
    return RequestQuery(
        ids=_comma_list(params, "service_request_id"),
        service_codes=_comma_list(params, "service_code"),
        start=start,
        end=end,
        statuses=statuses,
        page=page,
        page_size=page_size,
        extensions=extensions,
    )
