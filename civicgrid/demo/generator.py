"""The demo community (示范社区): a seeded, deterministic synthetic street with two years of cases.

What it builds, in this order, all inside one clock that runs from two years ago to "now":

1. geography through :func:`civicgrid.geo.services.grid_import` — district 110105, one street
   office and three communities of 4 × 5 grid cells each (60 cells), numbered west → east,
   north → south, each community's polygon the union of its cells;
2. the default category tree through :func:`civicgrid.cases.categories.load_default_categories`;
3. organizations (street office, committees, departments, contractors) and the routing matrix
   (one category-wide rule per leaf, plus per-cell overrides that send in-estate sanitation to each
   community's property company). These configuration rows have no service, so they are written
   directly with ``bulk_create``;
4. staff for every role and 2,000 residents, with one password hash shared by all (``bulk_create``;
   hashing 2,000 times would take minutes), and grid members through the geo service;
5. cases, each driven step by step through the real services of :mod:`civicgrid.cases.services`
   at backdated times (``time_machine.travel``), so traces, deadlines, escalations and audit rows
   are the ones the product itself writes.

Cases are simulated as events on one timeline: every case is a script (a Python generator) that
performs one service call per event and says when its next step happens, counted on the case's own
clock (working or natural time) as a fraction of the step's limit. Events of all cases run in time
order, so the audit log and the daily case numbers are chronological and the overdue sweep
(:func:`case_escalate_overdue`, run at the end of each working day and when a case runs late) sees
the state of every case at that moment. Events after the end time are dropped: recent cases simply
stay where the clock left them, and the newest few are stopped on purpose in every state (and with
pending return, extension, hold and on-the-spot review requests) so that every queue has work.

Open work is timed back from the end time, which by default is the moment the demo is loaded: each
stopped case is as far into its current step as its traffic light needs (mostly green, some
yellow, a few red that are overdue and escalated to the supervisor; see OPEN_LIGHTS), counted back
in working time on the calendar the case services use (natural time for urgent cases), and its
earlier steps were each done in time before that (:meth:`_Builder._time_open_work`). So right
after loading, every staff login's home page and work queue show several colours. The lights then
move on as the working clock runs, as on a real site: the intake steps (10-30 working minutes)
turn within minutes during working hours, and a demo looked at days later is red again. Loading
the demo again into an empty database brings the mix back; ``demo_load`` has no ``--reset`` flag:
``manage.py flush --noinput && manage.py demo_load`` (``demo_load --if-empty``, what ``make run``
does, keeps the data that is there).

Random choices come from ``random.Random(seed)`` and per-case generators seeded from it; nothing
depends on database ids or wall-clock time except the default end time (now, to the second), so
the same seed and end time give the same data on any machine and database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import io
import itertools
import random
import time
import zoneinfo
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import time_machine
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from PIL import Image, ImageDraw

from civicgrid.accounts.models import Organization, OrganizationKind, Role, User
from civicgrid.accounts.services import client_key_issue
from civicgrid.cases import services as case_services
from civicgrid.cases.attributes import category_attributes
from civicgrid.cases.categories import load_default_categories
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import (
    CancelReason,
    Case,
    CasePhoto,
    Category,
    Clock,
    Nature,
    Rating,
    RoutingRule,
    Satisfaction,
    Source,
    Trace,
    Urgency,
)
from civicgrid.cases.photos import CheckedPhoto, check_photo
from civicgrid.core.services import audit_record
from civicgrid.core.worktime import is_workday, work_calendar
from civicgrid.geo.basemap import basemap_import
from civicgrid.geo.models import Area, GridCell, GridMember, GridRole
from civicgrid.geo.services import grid_import, grid_member_add

from . import names

DEFAULT_SEED = 2026
DEFAULT_CASES = 900
DEFAULT_RESIDENTS = 2000
MAX_CASES = 50_000
MAX_RESIDENTS = 50_000
HISTORY_DAYS = 730
DEMO_PASSWORD = "demo12345"  # noqa: S105  # demo logins only; documented as such
# The demo's Open311 api_key, published so the docs' curl examples work on a demo site only.
DEMO_OPEN311_KEY = "demo-open311-key-not-for-production"
DEMO_OPEN311_CLIENT = "demo-app"

DISTRICT = ("110105", "示范区", "Demo District")
STREET = ("110105001", "望京示范街道", "Wangjing Demo Street")
COMMUNITIES = (
    ("110105001001", "望花路社区", "Wanghua Road Community", "望花路"),
    ("110105001002", "南湖东园社区", "Nanhu East Garden Community", "南湖东园"),
    ("110105001003", "利泽西园社区", "Lize West Garden Community", "利泽西园"),
)
GRID_ROWS, GRID_COLS = 4, 5
WEST, NORTH = 116.4550, 40.0010
CELL_LNG, CELL_LAT = 0.0030, 0.0024
SPECIAL_CELLS = {7: "school", 13: "market", 18: "park"}  # sequence in each community → type
EVENT_BATCH = 250  # events per transaction

# --------------------------------------------------------------------------- organizations

# (code, kind, Chinese name, English name). Departments serve the district, contractors the
# street, property companies their own community.
UNITS: tuple[tuple[str, str, str, str], ...] = (
    ("dept-enforcement", "department", "城管执法队", "Urban Management Enforcement Team"),
    ("dept-appearance", "department", "市政市容管理委员会", "City Appearance Commission"),
    ("dept-landscaping", "department", "园林绿化局", "Landscaping and Greening Bureau"),
    ("dept-housing", "department", "住房和城乡建设委员会", "Housing and Construction Commission"),
    ("dept-police", "department", "望京示范派出所", "Wangjing Demo Police Station"),
    ("dept-traffic", "department", "交警望京大队", "Wangjing Traffic Police Brigade"),
    ("dept-fire", "department", "望京消防救援站", "Wangjing Fire and Rescue Station"),
    ("dept-civil", "department", "民政科", "Civil Affairs Section"),
    ("dept-judicial", "department", "司法所", "Judicial Office (mediation)"),
    ("dept-labour", "department", "劳动保障监察队", "Labour Inspection Team"),
    ("dept-service", "department", "政务服务中心", "Government Service Centre"),
    ("co-sanitation", "contractor", "京洁环卫服务有限公司", "Jingjie Sanitation Services Co."),
    ("co-lights", "contractor", "明亮路灯维护有限公司", "Mingliang Street-Light Maintenance Co."),
    ("co-municipal", "contractor", "通达市政工程维修有限公司", "Tongda Municipal Repair Co."),
    ("co-greening", "contractor", "绿荫园林养护有限公司", "Lvyin Landscape Maintenance Co."),
    ("co-water", "contractor", "自来水集团望京分公司", "Water Supply Group, Wangjing Branch"),
    ("co-power", "contractor", "供电公司望京服务站", "Power Supply Company, Wangjing Station"),
    ("co-heating", "contractor", "热力集团望京分公司", "Heating Group, Wangjing Branch"),
    ("co-gas", "contractor", "燃气集团望京分公司", "Gas Group, Wangjing Branch"),
    ("co-property-1", "contractor", "望花物业服务有限公司", "Wanghua Property Services Co."),
    ("co-property-2", "contractor", "南湖物业服务有限公司", "Nanhu Property Services Co."),
    ("co-property-3", "contractor", "利泽物业服务有限公司", "Lize Property Services Co."),
)
# The unit's handler login: "handler" for the sanitation contractor, "handler_<name>" otherwise.
HANDLER_LOGINS = {
    code: (
        "handler"
        if code == "co-sanitation"
        else "handler_" + code.split("-", 1)[1].replace("-", "")
    )
    for code, *_ in UNITS
}

# Routing matrix by category-code prefix; the longest matching prefix wins.
ROUTES: dict[str, str] = {
    "C01": "co-municipal",
    "C0101": "co-water",
    "C0105": "co-power",
    "C0106": "co-lights",
    "C0109": "co-gas",
    "C0110": "co-heating",
    "C0111": "dept-fire",
    "C0116": "co-power",
    "C0117": "co-power",
    "C0118": "co-lights",
    "C0119": "co-lights",
    "C0120": "co-lights",
    "C0115": "co-municipal",
    "C02": "co-municipal",
    "C0205": "dept-traffic",
    "C0206": "dept-traffic",
    "C0208": "dept-traffic",
    "C03": "dept-appearance",
    "C0302": "co-sanitation",
    "C0303": "co-sanitation",
    "C0304": "co-sanitation",
    "C04": "co-greening",
    "C0401": "dept-landscaping",
    "C05": "dept-housing",
    "C06": "dept-appearance",
    "E01": "co-sanitation",
    "E0101": "dept-enforcement",
    "E0105": "dept-appearance",
    "E0106": "co-greening",
    "E0108": "dept-enforcement",
    "E0109": "dept-enforcement",
    "E02": "dept-enforcement",
    "E03": "dept-housing",
    "E0304": "dept-enforcement",
    "E04": "co-municipal",
    "E0402": "co-water",
    "E0403": "co-gas",
    "E0405": "co-heating",
    "E0407": "co-sanitation",
    "E0408": "dept-fire",
    "E05": "dept-enforcement",
    "E0504": "dept-police",
    "E0505": "dept-traffic",
    "E0508": "dept-traffic",
    "G01": "dept-judicial",
    "G0102": "dept-housing",
    "G0104": "dept-labour",
    "G02": "dept-fire",
    "G0203": "co-gas",
    "G0204": "dept-police",
    "G0205": "dept-housing",
    "G03": "dept-civil",
    "G04": "dept-police",
    "G05": "dept-police",
    "G0502": "dept-police",
    "G0503": "co-sanitation",
    "G06": "co-sanitation",
    "G07": "co-municipal",
    "G0702": "dept-civil",
    "H": "dept-service",
    "H0303": "dept-civil",
    "H0304": "dept-civil",
    "H05": "dept-housing",
    "H06": "dept-labour",
    "H07": "co-water",
    "H0702": "co-power",
    "H0703": "co-heating",
}
# In-estate categories: each community's property company answers for its own cells.
ESTATE_CATEGORIES = ("G0503", "G0601", "G0602", "G0603", "H0501")
# Units that are mistaken for each other (a wrong first dispatch goes back and on to these).
CONFUSED: dict[str, tuple[str, ...]] = {
    "co-municipal": ("co-water", "co-power", "co-heating", "co-gas"),
    "co-water": ("co-municipal",),
    "co-power": ("co-lights", "co-municipal"),
    "co-lights": ("co-power",),
    "co-heating": ("co-municipal",),
    "co-gas": ("co-municipal",),
    "co-sanitation": ("co-property-1", "co-property-2", "co-property-3", "dept-appearance"),
    "co-greening": ("dept-landscaping",),
    "dept-landscaping": ("co-greening",),
    "dept-enforcement": ("dept-traffic", "dept-police"),
    "dept-traffic": ("dept-enforcement",),
    "dept-police": ("dept-judicial", "dept-enforcement"),
    "dept-judicial": ("dept-police",),
    "dept-housing": ("dept-enforcement",),
    "dept-fire": ("dept-police",),
    "dept-appearance": ("co-sanitation",),
}

# --------------------------------------------------------------------------- seasons and hours

MONTHS: dict[str, tuple[float, ...]] = {
    "flat": (1.0,) * 12,
    "summer": (0.6, 0.6, 0.8, 1.0, 1.2, 1.5, 1.7, 1.6, 1.2, 0.9, 0.7, 0.6),
    "warm": (0.5, 0.5, 0.8, 1.1, 1.3, 1.3, 1.3, 1.3, 1.2, 1.0, 0.7, 0.5),
    "snow": (2.2, 1.6, 0.3, 0, 0, 0, 0, 0, 0, 0, 0.4, 1.8),
    "heating": (1.5, 1.2, 0.8, 0.1, 0, 0, 0, 0, 0, 0.2, 1.6, 1.6),
    "rain": (0.1, 0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 2.6, 0.9, 0.3, 0.1, 0.1),
    "building": (0.3, 0.4, 1.1, 1.3, 1.3, 1.2, 1.1, 1.1, 1.3, 1.3, 1.0, 0.5),
    "dust": (0.6, 0.9, 1.8, 2.0, 1.5, 0.8, 0.6, 0.6, 0.7, 0.9, 0.9, 0.7),
    "dark": (1.3, 1.2, 1.0, 0.9, 0.8, 0.7, 0.7, 0.8, 0.9, 1.1, 1.3, 1.4),
    "wages": (2.5, 1.8, 0.8, 0.7, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 1.0, 1.8),
    "care": (1.4, 1.2, 1.0, 0.9, 0.9, 1.1, 1.3, 1.2, 0.9, 0.9, 1.1, 1.3),
    "trees": (0.6, 0.5, 0.8, 1.0, 1.0, 1.4, 1.8, 1.6, 1.1, 1.2, 1.0, 0.7),
}


def _hours(weights: str) -> tuple[float, ...]:
    """24 relative weights, one per hour from 00 to 23 (local time)."""
    values = tuple(float(w) for w in weights.split())
    assert len(values) == 24
    return values


HOURS: dict[str, tuple[float, ...]] = {
    "day": _hours(".1 .05 0 0 0 .05 .3 .8 1.2 1.5 1.5 1.3 1 1 1.2 1.2 1.1 1 1.1 1.4 1.4 1 .5 .2"),
    "evening": _hours(".6 .3 .1 0 0 0 .1 .2 .3 .3 .3 .3 .4 .4 .4 .4 .5 .6 .9 1.5 2 2.4 2.2 1.4"),
    "morning": _hours("0 0 0 0 .1 .5 1.6 2.2 2 1.4 1 .8 .6 .5 .5 .5 .5 .6 .5 .4 .3 .2 .3 .2"),
    "hotline": _hours("0 0 0 0 0 0 0 0 1 1.6 1.7 1.4 .8 1 1.4 1.4 1.2 1 .7 .6 .5 .3 0 0"),
    "patrol": _hours("0 0 0 0 0 0 0 0 0 1.5 1.8 1.2 0 0 1.4 1.6 1.2 .4 0 0 0 0 0 0"),
}
WEEKDAY = (1.1, 1.05, 1.0, 1.0, 0.95, 0.85, 0.9)  # Monday first


@dataclass(frozen=True)
class CategorySpec:
    """How often a category is reported, when, how urgently, by whom, and whether a grid worker may
    handle it on the spot."""

    code: str
    weight: float
    months: str = "flat"
    hours: str = "day"
    urgent: float = 0.0
    pressing: float = 0.1
    nature: str = Nature.COMPLAINT
    sources: tuple[float, float, float] = (0.6, 0.25, 0.15)  # resident, patrol, hotline
    minor: bool = False


CATEGORY_SPECS: tuple[CategorySpec, ...] = (
    CategorySpec("E0102", 10, "summer", minor=True, sources=(0.55, 0.35, 0.1)),
    CategorySpec("E0103", 3, "building", sources=(0.4, 0.5, 0.1)),
    CategorySpec("E0104", 4, "trees", minor=True, sources=(0.4, 0.5, 0.1)),
    CategorySpec("E0107", 3, "building", sources=(0.4, 0.5, 0.1)),
    CategorySpec("E0109", 2, "summer", "evening", sources=(0.7, 0.05, 0.25)),
    CategorySpec("E0110", 3, minor=True, sources=(0.3, 0.65, 0.05)),
    CategorySpec("E0201", 5, minor=True, nature=Nature.REPORT, sources=(0.3, 0.65, 0.05)),
    CategorySpec("E0301", 3, "building", "evening", pressing=0.3, sources=(0.6, 0.05, 0.35)),
    CategorySpec("E0302", 1, "building", sources=(0.5, 0.4, 0.1)),
    CategorySpec("E0303", 2, "dust", sources=(0.5, 0.35, 0.15)),
    CategorySpec("E0304", 1, "building", "morning", sources=(0.4, 0.5, 0.1)),
    CategorySpec("E0401", 0.3, "rain", urgent=0.8, pressing=0.2, nature=Nature.REPORT),
    CategorySpec("E0402", 0.6, "heating", urgent=0.7, pressing=0.3, nature=Nature.REPORT),
    CategorySpec("E0404", 2, "rain", pressing=0.5, urgent=0.1),
    CategorySpec("E0405", 0.4, "heating", urgent=0.7, pressing=0.3, nature=Nature.REPORT),
    CategorySpec("E0406", 1.5, "rain", "day", urgent=0.3, pressing=0.5, nature=Nature.REPORT),
    CategorySpec("E0407", 3, "snow", "morning", pressing=0.6, urgent=0.1, nature=Nature.HELP),
    CategorySpec("E0501", 3, "warm", "evening", sources=(0.5, 0.45, 0.05)),
    CategorySpec("E0502", 3, "warm", sources=(0.4, 0.55, 0.05)),
    CategorySpec("E0503", 2, "warm", "evening", sources=(0.5, 0.45, 0.05)),
    CategorySpec("E0505", 6, sources=(0.7, 0.2, 0.1)),
    CategorySpec("E0506", 4, "warm", minor=True, sources=(0.45, 0.5, 0.05)),
    CategorySpec("E0507", 2, "summer", "evening", sources=(0.75, 0.1, 0.15)),
    CategorySpec("C0102", 1.5, pressing=0.6, urgent=0.2, nature=Nature.REPORT),
    CategorySpec("C0103", 1, "rain", pressing=0.6, urgent=0.2, nature=Nature.REPORT),
    CategorySpec("C0104", 1.5, "rain", pressing=0.3, nature=Nature.REPORT),
    CategorySpec("C0111", 0.5, nature=Nature.REPORT, sources=(0.4, 0.5, 0.1)),
    CategorySpec("C0115", 2, "warm", nature=Nature.REPORT),
    CategorySpec("C0118", 5, "dark", "evening", nature=Nature.REPORT, sources=(0.65, 0.2, 0.15)),
    CategorySpec("C0204", 0.5, nature=Nature.REPORT, sources=(0.3, 0.65, 0.05)),
    CategorySpec("C0207", 1, nature=Nature.REPORT, sources=(0.4, 0.55, 0.05)),
    CategorySpec("C0213", 0.5, nature=Nature.REPORT, sources=(0.4, 0.55, 0.05)),
    CategorySpec("C0301", 1.5, "summer"),
    CategorySpec("C0303", 3, "summer", sources=(0.45, 0.45, 0.1)),
    CategorySpec("C0402", 2, "trees", pressing=0.3, urgent=0.05, nature=Nature.REPORT),
    CategorySpec("C0403", 1.5, "warm", sources=(0.4, 0.5, 0.1)),
    CategorySpec("C0406", 1, "warm", nature=Nature.REPORT),
    CategorySpec("G0101", 2, nature=Nature.HELP, sources=(0.6, 0.1, 0.3)),
    CategorySpec("G0102", 2, nature=Nature.COMPLAINT, sources=(0.6, 0.05, 0.35)),
    CategorySpec("G0201", 3, sources=(0.55, 0.4, 0.05)),
    CategorySpec("G0202", 3, "heating", "evening", pressing=0.3, sources=(0.55, 0.4, 0.05)),
    CategorySpec("G0204", 1, "summer", pressing=0.4),
    CategorySpec("G0301", 1.5, "care", nature=Nature.HELP, pressing=0.3, sources=(0.4, 0.4, 0.2)),
    CategorySpec("G0501", 4, "summer", "evening", sources=(0.65, 0.0, 0.35)),
    CategorySpec("G0502", 2, "warm", "evening", sources=(0.8, 0.1, 0.1)),
    CategorySpec("G0503", 2, "warm", sources=(0.8, 0.15, 0.05)),
    CategorySpec("G0601", 4, minor=True, sources=(0.5, 0.45, 0.05)),
    CategorySpec("G0602", 4, "summer", sources=(0.7, 0.2, 0.1)),
    CategorySpec("G0603", 1.5, "warm", minor=True, sources=(0.5, 0.45, 0.05)),
    CategorySpec(
        "G0701",
        0.5,
        "rain",
        pressing=0.6,
        urgent=0.2,
        nature=Nature.REPORT,
        sources=(0.0, 1.0, 0.0),
    ),
    CategorySpec("H0101", 3, nature=Nature.CONSULTATION, sources=(0.3, 0.0, 0.7)),
    CategorySpec("H0303", 1, nature=Nature.CONSULTATION, sources=(0.3, 0.0, 0.7)),
    CategorySpec("H0501", 3, sources=(0.4, 0.0, 0.6)),
    CategorySpec("H0601", 1, "wages", nature=Nature.HELP, pressing=0.3, sources=(0.2, 0.0, 0.8)),
    CategorySpec("H0701", 1, "summer", pressing=0.6, sources=(0.4, 0.0, 0.6)),
    CategorySpec("H0702", 1, "summer", pressing=0.6, sources=(0.4, 0.0, 0.6)),
    CategorySpec("H0703", 2, "heating", pressing=0.5, sources=(0.4, 0.0, 0.6)),
)
# A resident's wrong pick that the operator corrects when accepting.
CORRECTIONS = {"E0102": "G0602", "E0104": "G0603", "H0501": "G0102", "E0505": "G0201"}

# How a case ends, with weights (the newest cases are stopped early instead, see FREEZE_STAGES).
OUTCOMES: tuple[tuple[str, float], ...] = (
    ("normal", 70),
    ("invalid", 3),
    ("duplicate", 4),
    ("not_ours", 1),
    ("return", 4),
    ("transfer", 2),
    ("rework", 4),
    ("extension", 4),
    ("hold", 2),
    ("overdue", 6),
)
# Where the newest cases stop, so that every queue and every state has work near the end time.
FREEZE_STAGES = (
    "reported",
    "accepted",
    "verified",
    "filed",
    "dispatched",
    "return_pending",
    "processing",
    "extension_pending",
    "hold_pending",
    "on_hold",
    "processed",
    "checking",
    "closed",
    "self_review",
)
# The service calls that bring a stopped case to its stage, in order (see _time_open_work).
_TO_UNIT = ("submit", "accept", "file", "dispatch")
STAGE_CALLS: dict[str, tuple[str, ...]] = {
    "reported": ("submit",),
    "accepted": ("submit", "accept"),
    "verified": ("submit", "accept", "verify"),
    "filed": ("submit", "accept", "file"),
    "dispatched": _TO_UNIT,
    "return_pending": (*_TO_UNIT, "return_request"),
    "processing": (*_TO_UNIT, "start"),
    "extension_pending": (*_TO_UNIT, "start", "extension_request"),
    "hold_pending": (*_TO_UNIT, "start", "hold_request"),
    "on_hold": (*_TO_UNIT, "start", "hold_request", "hold_decide"),
    "processed": (*_TO_UNIT, "process"),
    "checking": (*_TO_UNIT, "process", "check_start"),
    "closed": (*_TO_UNIT, "process", "check_start", "check_finish"),
    "self_review": ("submit", "self_handle"),
}
assert set(STAGE_CALLS) == set(FREEZE_STAGES)
# The traffic light a stopped case shows at the end time, by stage, round after round (the
# newest cases go through FREEZE_STAGES once per round): mostly green, some yellow, a few red,
# and more than one colour in every demo login's work queue. Stages without an entry (closed,
# self_review) are not open and show no light; a held clock shows green.
OPEN_LIGHTS: dict[str, tuple[str, ...]] = {
    "reported": ("green", "red", "yellow"),
    "accepted": ("green", "yellow", "green"),
    "verified": ("yellow", "green", "green"),
    "filed": ("green", "yellow", "red"),
    "dispatched": ("red", "green", "green"),
    "return_pending": ("green", "yellow", "green"),
    "processing": ("green", "red", "green"),
    "extension_pending": ("yellow", "green", "green"),
    "hold_pending": ("green", "yellow", "green"),
    "on_hold": ("green",),
    "processed": ("green", "yellow", "red"),
    "checking": ("yellow", "green", "green"),
}
# How far into its current step a stopped case is at the end time, as a share of the step's
# limit on the step's clock: green below 80 % (the warning), yellow up to 100 %, red past it.
LIGHT_SHARES: dict[str, tuple[float, float]] = {
    "green": (0.1, 0.6),
    "yellow": (0.82, 0.9),
    "red": (1.3, 2.5),
}
# Stopped cases waiting at a unit; two in three of them go to the sanitation contractor, whose
# handler is the `handler` demo login.
UNIT_STAGES = frozenset(
    {"dispatched", "return_pending", "processing", "extension_pending", "hold_pending", "on_hold"}
)
SATISFACTION_WEIGHTS = {
    "good": (48, 32, 11, 6, 3),
    "poor": (15, 25, 25, 20, 15),
}
SATISFACTIONS = (
    Satisfaction.VERY_SATISFIED,
    Satisfaction.SATISFIED,
    Satisfaction.BASICALLY_SATISFIED,
    Satisfaction.AVERAGE,
    Satisfaction.DISSATISFIED,
)

# --------------------------------------------------------------------------- logins

StrOrPromise = str | Promise


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    description: StrOrPromise


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin(Role.RESIDENT, "resident", _lazy("A resident of 望花路社区")),
    DemoLogin(Role.GRID_WORKER, "gridworker", _lazy("Grid worker, cells 001-005 of 望花路社区")),
    DemoLogin(Role.OPERATOR, "operator", _lazy("Operator of the street office")),
    DemoLogin(Role.SHIFT_LEADER, "leader", _lazy("Shift leader of the street office")),
    DemoLogin(Role.DISPATCHER, "dispatcher", _lazy("Dispatcher of the street office")),
    DemoLogin(Role.UNIT_HANDLER, "handler", _lazy("Handler at 京洁环卫 (sanitation contractor)")),
    DemoLogin(Role.SUPERVISOR, "supervisor", _lazy("Supervisor of the street office")),
    DemoLogin(Role.COMMITTEE_MEMBER, "committee", _lazy("Member of the 望花路 committee")),
    DemoLogin(Role.ADMINISTRATOR, "admin", _lazy("Administrator")),
)


# --------------------------------------------------------------------------- results


@dataclass
class DemoResult:
    seed: int
    end: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str], None]


def demo_logins_present() -> bool:
    """True when every demo login of DEMO_LOGINS exists (so printing them helps)."""
    names = [login.username for login in DEMO_LOGINS]
    return User.objects.filter(username__in=names).count() == len(names)


def demo_present() -> bool:
    """True when the database already holds the demo street, its logins, or any case."""
    return (
        Area.objects.filter(code=STREET[0]).exists()
        or User.objects.filter(username__in=[login.username for login in DEMO_LOGINS]).exists()
        or Case.objects.exists()
    )


def demo_digest() -> str:
    """A SHA-256 over what the demo made (case numbers, states, units, traces with their times),
    independent of database ids, to compare two runs."""
    hasher = hashlib.sha256()
    cases = Case.objects.order_by("number").values_list(
        "pk",
        "number",
        "status",
        "category__code",
        "unit__code",
        "cell__code",
        "reporter__username",
        "urgency",
        "source",
        "reported_at",
        "deadline_at",
    )
    traces: dict[int, list[str]] = defaultdict(list)
    for case_id, action, actor, finished in Trace.objects.order_by("finished_at", "id").values_list(
        "case_id", "action", "actor__username", "finished_at"
    ):
        traces[case_id].append(f"{action}:{actor}:{finished.isoformat()}")
    for pk, *row in cases:
        hasher.update(repr([str(v) for v in row] + traces[pk]).encode())
    return hasher.hexdigest()


def default_end() -> dt.datetime:
    """Now, to the second (local time): the default end of the simulated history. The open cases
    are timed back from it, so their traffic lights are right when the demo has just loaded."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return timezone.now().astimezone(tz).replace(microsecond=0)


def load_demo(
    *,
    seed: int = DEFAULT_SEED,
    case_count: int = DEFAULT_CASES,
    resident_count: int = DEFAULT_RESIDENTS,
    end: dt.datetime | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Build the demo community in an empty database (see the module docstring).

    Writes geography, categories, organizations, routing, users, grid members and ``case_count``
    cases with their whole history up to ``end`` (default: now). Configuration is
    committed first in one transaction; case events are committed in batches. Returns counts,
    the status mix and timings; ``failed_steps`` lists any step a service refused (none expected).
    """
    builder = _Builder(
        seed=seed,
        case_count=case_count,
        resident_count=resident_count,
        end=end or default_end(),
        progress=progress or (lambda message: None),
    )
    return builder.run()


# --------------------------------------------------------------------------- internals


@dataclass
class _CellInfo:
    code: str
    pk: int
    community: int  # 0..2
    west: float
    south: float
    east: float
    north: float
    cell_type: str
    worker: User | None = None


@dataclass
class _Plan:
    """One case to simulate: what is reported, where, by whom, and how it will end."""

    reported_at: dt.datetime
    spec: CategorySpec
    cell: _CellInfo
    source: str
    urgency: str
    outcome: str
    rng: random.Random
    freeze: str | None = None
    reporter: User | None = None
    # When each step of a stopped case happens (see _Builder._time_open_work); None otherwise.
    schedule: dict[str, dt.datetime] | None = None

    def when(self, call: str) -> dt.datetime | None:
        """The scheduled time of ``call`` for a stopped case; None lets the script choose."""
        return None if self.schedule is None else self.schedule[call]


def _rect(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]]}


def _route_for(code: str) -> str:
    for length in range(len(code), 0, -1):
        unit = ROUTES.get(code[:length])
        if unit is not None:
            return unit
    return "dept-appearance"


def _tiny_png(rng: random.Random, index: int) -> bytes:
    """A 32 × 24 picture of a few coloured blocks: a few hundred bytes, a valid PNG."""
    palette = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _i in range(4)]
    img = Image.new("P", (32, 24), 0)
    img.putpalette([c for rgb in palette for c in rgb])
    draw = ImageDraw.Draw(img)
    for block in range(3):
        x, y = rng.randrange(24), rng.randrange(16)
        draw.rectangle((x, y, x + 8, y + 8), fill=block + 1)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


class _Builder:
    def __init__(
        self,
        *,
        seed: int,
        case_count: int,
        resident_count: int,
        end: dt.datetime,
        progress: Progress,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.case_count = case_count
        self.resident_count = resident_count
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self.end = end.astimezone(dt.UTC)
        local_end = end.astimezone(self.tz)
        start_day = local_end.date() - dt.timedelta(days=HISTORY_DAYS)
        self.start = dt.datetime.combine(start_day, dt.time(0, 0), tzinfo=self.tz)
        self.progress = progress
        self.result = DemoResult(seed=seed, end=self.end)
        self.calendar = work_calendar()
        self.users: dict[str, User] = {}
        self.units: dict[str, Organization] = {}
        self.cells: list[_CellInfo] = []
        self.categories: dict[str, Category] = {}
        self.residents: list[list[User]] = [[], [], []]
        self.resident_weights: list[list[float]] = [[], [], []]
        self.handlers: dict[int, User] = {}  # unit pk → handler
        self.photos: list[CheckedPhoto] = []
        self.recent: dict[tuple[str, int], deque[tuple[dt.datetime, Case]]] = defaultdict(
            lambda: deque(maxlen=5)
        )
        self.submitted = 0
        self.running = 0  # cases submitted whose script has not ended

    # ----------------------------------------------------------------------- orchestration

    def run(self) -> DemoResult:
        timings = self.result.seconds
        started = time.perf_counter()
        # Configuration is dated a week before the history starts, so the audit log reads in order.
        setup_at = self.start - dt.timedelta(days=7)
        with time_machine.travel(setup_at.replace(hour=9), tick=False), transaction.atomic():
            self._build_users_and_units()
            self._build_geography()
            load_default_categories(actor=self.users["admin"])
            self._build_routing()
            self._build_grid_members()
            self._build_open311_client()
        timings["setup"] = time.perf_counter() - started
        self.progress(
            _(
                "Set up %(cells)d grid cells, %(units)d organizations and %(residents)d "
                "residents in %(seconds).1f s."
            )
            % {
                "cells": len(self.cells),
                "units": len(self.units),
                "residents": sum(len(r) for r in self.residents),
                "seconds": timings["setup"],
            }
        )
        self._make_photos()
        started = time.perf_counter()
        plans = self._plan_cases()
        self._simulate(plans)
        timings["cases"] = time.perf_counter() - started
        with time_machine.travel(self.end, tick=False), transaction.atomic():
            audit_record(
                actor=self.users["admin"],
                action="demo.load",
                target=None,
                data={"seed": self.seed, "cases": self.case_count, "end": self.end.isoformat()},
            )
        self._count()
        return self.result

    def _count(self) -> None:
        self.result.counts = {
            "cells": GridCell.objects.count(),
            "organizations": Organization.objects.count(),
            "routing rules": RoutingRule.objects.count(),
            "staff": User.objects.exclude(role=Role.RESIDENT).count(),
            "residents": User.objects.filter(role=Role.RESIDENT).count(),
            "grid members": GridMember.objects.count(),
            "cases": Case.objects.count(),
            "traces": Trace.objects.count(),
            "ratings": Rating.objects.count(),
            "photos": CasePhoto.objects.count(),
        }
        self.result.statuses = dict(
            sorted(Counter(Case.objects.values_list("status", flat=True)).items())
        )

    # ----------------------------------------------------------------------- configuration

    def _build_users_and_units(self) -> None:
        street_code = STREET[0]
        orgs: list[Organization] = [
            Organization(
                kind=OrganizationKind.STREET_OFFICE,
                code="street-office",
                name=f"{STREET[1]}办事处",
                name_en=f"{STREET[2]} Office",
                area_code=street_code,
                phone="010-64700000",
            )
        ]
        for index, (code, name, name_en, _short) in enumerate(COMMUNITIES, start=1):
            orgs.append(
                Organization(
                    kind=OrganizationKind.COMMITTEE,
                    code=f"committee-{index}",
                    name=f"{name}居民委员会",
                    name_en=f"{name_en} Residents' Committee",
                    area_code=code,
                    phone=f"010-6470{index:04d}",
                )
            )
        for index, (code, kind, name, name_en) in enumerate(UNITS, start=1):
            area = street_code if kind == "contractor" else DISTRICT[0]
            if code.startswith("co-property-"):
                area = COMMUNITIES[int(code[-1]) - 1][0]
            orgs.append(
                Organization(
                    kind=kind,
                    code=code,
                    name=name,
                    name_en=name_en,
                    area_code=area,
                    phone=f"010-6480{index:04d}",
                )
            )
        for org in orgs:
            org.full_clean(validate_unique=False, validate_constraints=False)
        Organization.objects.bulk_create(orgs)
        self.units = {o.code: o for o in Organization.objects.all()}

        password = make_password(DEMO_PASSWORD)  # hashed once: every demo login shares it
        joined = self.start - dt.timedelta(days=7)
        staff: list[User] = []

        def add(username: str, role: str, org: str | None, area: str, **extra: Any) -> None:
            staff.append(
                User(
                    username=username,
                    password=password,
                    role=role,
                    organization=self.units[org] if org else None,
                    area_code=area,
                    display_name=names.person_name(self.rng),
                    phone=names.phone_number(self.rng),
                    date_joined=joined,
                    **extra,
                )
            )

        add("admin", Role.ADMINISTRATOR, None, "", is_staff=True, is_superuser=True)
        add("supervisor", Role.SUPERVISOR, "street-office", street_code)
        for username in ("operator", "operator2", "hotline"):
            add(username, Role.OPERATOR, "street-office", street_code)
        for username in ("leader", "leader2"):
            add(username, Role.SHIFT_LEADER, "street-office", street_code)
        add("dispatcher", Role.DISPATCHER, "street-office", street_code)
        for index, (code, *_rest) in enumerate(COMMUNITIES, start=1):
            add(
                "committee" if index == 1 else f"committee{index}",
                Role.COMMITTEE_MEMBER,
                f"committee-{index}",
                code,
            )
            for worker in range(1, 5):
                number = (index - 1) * 4 + worker
                add(
                    "gridworker" if number == 1 else f"gridworker{number}",
                    Role.GRID_WORKER,
                    f"committee-{index}",
                    code,
                )
        for code, *_rest in UNITS:
            add(HANDLER_LOGINS[code], Role.UNIT_HANDLER, code, "")

        residents: list[User] = []
        for number in range(1, self.resident_count + 1):
            residents.append(
                User(
                    username="resident" if number == 1 else f"resident{number:04d}",
                    password=password,
                    role=Role.RESIDENT,
                    display_name=names.person_name(self.rng),
                    phone=names.phone_number(self.rng),
                    date_joined=joined,
                    language="en" if self.rng.random() < 0.03 else "",
                    large_text=self.rng.random() < 0.08,
                )
            )
        User.objects.bulk_create(staff + residents, batch_size=500)
        for user in User.objects.order_by("username"):
            self.users[user.username] = user
        for code, *_rest in UNITS:
            self.handlers[self.units[code].pk] = self.users[HANDLER_LOGINS[code]]
        # Residents live in one of the three communities; a few report much more than others.
        for number in range(1, self.resident_count + 1):
            username = "resident" if number == 1 else f"resident{number:04d}"
            home = 0 if number == 1 else self.rng.randrange(3)
            self.residents[home].append(self.users[username])
            self.resident_weights[home].append(
                5.0 if number == 1 else min(self.rng.paretovariate(1.6), 20.0)
            )

    def _build_open311_client(self) -> None:
        """A client organization (a city reporting app) with the published demo api_key."""
        app = Organization(
            kind=OrganizationKind.CLIENT,
            code=DEMO_OPEN311_CLIENT,
            name="随手拍应用（演示）",
            name_en="Snap-and-report app (demo)",
            area_code=DISTRICT[0],
        )
        app.full_clean()
        app.save()
        self.units[app.code] = app
        client_key_issue(
            actor=self.users["admin"],
            organization=app,
            name="demo",
            rate_per_minute=600,
            raw_key=DEMO_OPEN311_KEY,
        )

    def _build_geography(self) -> None:
        features: list[dict[str, Any]] = []
        total_cols = GRID_COLS * len(COMMUNITIES)
        south = NORTH - GRID_ROWS * CELL_LAT
        features.append(self._area_feature(DISTRICT, "district", None))
        street_shape = _rect(WEST, south, WEST + total_cols * CELL_LNG, NORTH)
        features.append(self._area_feature(STREET, "street", street_shape))
        cell_features: list[dict[str, Any]] = []
        for index, (code, name, name_en, short) in enumerate(COMMUNITIES):
            west = WEST + index * GRID_COLS * CELL_LNG
            east = west + GRID_COLS * CELL_LNG
            features.append(
                self._area_feature(
                    (code, name, name_en), "community", _rect(west, south, east, NORTH)
                )
            )
            for row in range(GRID_ROWS):
                for col in range(GRID_COLS):
                    seq = row * GRID_COLS + col + 1
                    cell_type = SPECIAL_CELLS.get(seq, "basic")
                    c_west = west + col * CELL_LNG
                    c_north = NORTH - row * CELL_LAT
                    cell_features.append(
                        {
                            "type": "Feature",
                            "properties": {
                                "code": f"{code}{seq:03d}",
                                "name": f"{short}第{seq:02d}网格",
                                "name_en": f"{name_en.replace(' Community', '')} grid {seq:02d}",
                                "cell_type": cell_type,
                            },
                            "geometry": _rect(
                                c_west, c_north - CELL_LAT, c_west + CELL_LNG, c_north
                            ),
                        }
                    )
        grid_import(
            actor=self.users["admin"],
            geojson={"type": "FeatureCollection", "features": features + cell_features},
        )
        # The street's offline base map, drawn from the same grid (roads on the cell borders).
        from .basemap import demo_basemap  # it reads this module's grid constants

        basemap_import(actor=self.users["admin"], geojson=demo_basemap())
        for cell in GridCell.objects.order_by("code"):
            self.cells.append(
                _CellInfo(
                    code=cell.code,
                    pk=cell.pk,
                    community=int(cell.code[9:12]) - 1,
                    west=cell.min_lng,
                    south=cell.min_lat,
                    east=cell.max_lng,
                    north=cell.max_lat,
                    cell_type=cell.cell_type,
                )
            )

    @staticmethod
    def _area_feature(
        area: tuple[str, ...], level: str, geometry: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "type": "Feature",
            "properties": {"code": area[0], "level": level, "name": area[1], "name_en": area[2]},
            "geometry": geometry,
        }

    def _build_routing(self) -> None:
        leaves = [
            c
            for c in Category.objects.filter(is_active=True)
            .exclude(children__is_active=True)
            .order_by("code")
        ]
        self.categories = {c.code: c for c in leaves}
        rules = [RoutingRule(category=c, unit=self.units[_route_for(c.code)]) for c in leaves]
        cells = {c.pk: c for c in GridCell.objects.all()}
        for info in self.cells:
            property_company = self.units[f"co-property-{info.community + 1}"]
            for code in ESTATE_CATEGORIES:
                if code in self.categories:
                    rules.append(
                        RoutingRule(
                            cell=cells[info.pk],
                            category=self.categories[code],
                            unit=property_company,
                        )
                    )
        RoutingRule.objects.bulk_create(rules, batch_size=500)

    def _build_grid_members(self) -> None:
        admin = self.users["admin"]
        since = self.start.date() - dt.timedelta(days=7)
        cells = {c.pk: c for c in GridCell.objects.all()}
        for info in self.cells:
            seq = int(info.code[12:])
            worker_number = info.community * 4 + (seq - 1) // 5 + 1
            worker = self.users[
                "gridworker" if worker_number == 1 else f"gridworker{worker_number}"
            ]
            info.worker = worker
            cell = cells[info.pk]
            grid_member_add(
                actor=admin, cell=cell, user=worker, role=GridRole.FULL_TIME, valid_from=since
            )
            if seq == 1:  # the committee member leads the community's grid from its first cell
                committee = self.users[
                    "committee" if info.community == 0 else f"committee{info.community + 1}"
                ]
                grid_member_add(
                    actor=admin, cell=cell, user=committee, role=GridRole.LEADER, valid_from=since
                )

    def _make_photos(self) -> None:
        photo_rng = random.Random(self.seed + 1)
        self.photos = [
            check_photo(io.BytesIO(_tiny_png(photo_rng, i)), name=f"demo-{i}.png") for i in range(6)
        ]

    def _photo(self, rng: random.Random) -> list[CheckedPhoto]:
        return [rng.choice(self.photos)]

    # ----------------------------------------------------------------------- planning

    def _plan_cases(self) -> list[_Plan]:
        rng = self.rng
        specs = [s for s in CATEGORY_SPECS if s.code in self.categories]
        days = [self.start.date() + dt.timedelta(days=i) for i in range(HISTORY_DAYS)]
        month_weight = {
            m: sum(s.weight * MONTHS[s.months][m - 1] for s in specs) for m in range(1, 13)
        }
        day_weights = [
            (0.8 + 0.4 * i / HISTORY_DAYS) * WEEKDAY[d.weekday()] * month_weight[d.month]
            for i, d in enumerate(days)
        ]
        chosen_days = sorted(rng.choices(days, weights=day_weights, k=self.case_count))
        cell_weights = [rng.lognormvariate(0, 0.5) for _cell in self.cells]
        plans: list[_Plan] = []
        for day in chosen_days:
            month = day.month
            spec = rng.choices(
                specs, weights=[s.weight * MONTHS[s.months][month - 1] for s in specs]
            )[0]
            source = rng.choices(
                (Source.RESIDENT, Source.PATROL, Source.HOTLINE), weights=spec.sources
            )[0]
            if source == Source.PATROL and not is_workday(day):
                source = Source.RESIDENT if spec.sources[0] else Source.HOTLINE
            if source == Source.PATROL and spec.sources[1] == 1.0 and not is_workday(day):
                source = Source.PATROL  # flood duty has no resident reports; weekend patrol it is
            hours = HOURS[
                "patrol"
                if source == Source.PATROL
                else "hotline"
                if source == Source.HOTLINE
                else spec.hours
            ]
            hour = rng.choices(range(24), weights=hours)[0]
            local = dt.datetime.combine(
                day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=self.tz
            )
            weights = [
                w
                * (3.0 if c.cell_type == "market" and spec.code.startswith(("E05", "E01")) else 1.0)
                * (2.0 if c.cell_type == "school" and spec.code in ("E0505", "E0506") else 1.0)
                * (2.5 if c.cell_type == "park" and spec.code.startswith(("C04", "G05")) else 1.0)
                for w, c in zip(cell_weights, self.cells, strict=True)
            ]
            cell = rng.choices(self.cells, weights=weights)[0]
            roll = rng.random()
            urgency = (
                Urgency.URGENT
                if roll < spec.urgent
                else Urgency.PRESSING
                if roll < spec.urgent + spec.pressing
                else Urgency.NORMAL
            )
            outcome = rng.choices([o for o, _w in OUTCOMES], weights=[w for _o, w in OUTCOMES])[0]
            on_the_spot = {Source.PATROL: 0.55, Source.RESIDENT: 0.1}.get(source, 0.0)
            if spec.minor and rng.random() < on_the_spot:
                outcome = "self_handle"
            plans.append(
                _Plan(
                    reported_at=local.astimezone(dt.UTC),
                    spec=spec,
                    cell=cell,
                    source=source,
                    urgency=urgency,
                    outcome=outcome,
                    rng=random.Random(rng.getrandbits(64)),
                )
            )
        plans.sort(key=lambda p: p.reported_at)
        # The newest cases stop early, cycling through every stage (at least two rounds).
        recent_from = self.end - dt.timedelta(days=7)
        recent = [p for p in plans if p.reported_at >= recent_from]
        if len(recent) < 2 * len(FREEZE_STAGES):
            recent = plans[-2 * len(FREEZE_STAGES) :]
        frozen: list[_Plan] = []
        for index, plan in enumerate(reversed(recent)):
            if index % 3 == 2:
                continue  # a third of the newest cases run on as they would
            stage = FREEZE_STAGES[(index - index // 3) % len(FREEZE_STAGES)]
            plan.freeze = stage
            # The shortest way to the stage, so that _time_open_work knows every step.
            plan.outcome = {
                "return_pending": "return",
                "extension_pending": "extension",
                "hold_pending": "hold",
                "on_hold": "hold",
                "self_review": "self_handle",
            }.get(stage, "normal")
            if stage == "self_review":
                plan.source = Source.PATROL
            frozen.append(plan)
        self._time_open_work(frozen)
        plans.sort(key=lambda p: p.reported_at)
        return plans

    def _time_open_work(self, frozen: list[_Plan]) -> None:
        """Time the stopped cases back from the end time, so that the end sees open work in
        every colour, as on a real working day.

        Each stopped case gets the light OPEN_LIGHTS names for its stage and round, as a share
        of its current step's limit (LIGHT_SHARES) already spent at the end time: the step
        starts that long before the end, counted back on the step's clock (working time on the
        services' calendar, or natural time for urgent cases). The steps before it are each
        done in 15-70 % of their own limit, counted back from there, which gives the report
        time; the requests and decisions inside the current step fall between its start and
        the end. Red cases are past their deadline, so the sweep escalates them to the
        supervisor. Two in three stopped cases are placed in 望花路社区 (the community of the
        ``gridworker``, ``committee`` and ``resident`` logins, in the same cell of its grid),
        and two in three of those waiting at a unit report a sanitation problem (the ``handler``
        login's contractor), so that those logins' queues show the mix too.
        """
        sanitation = [
            spec
            for spec in CATEGORY_SPECS
            if spec.code in self.categories
            and spec.code not in ESTATE_CATEGORIES
            and _route_for(spec.code) == "co-sanitation"
        ]
        at_unit = 0
        for order, plan in enumerate(frozen):
            assert plan.freeze is not None
            stage = plan.freeze
            rng = random.Random(f"demo-open-work|{self.seed}|{order}")
            if order % 3 != 2 and plan.cell.community != 0:
                plan.cell = self.cells[int(plan.cell.code[12:]) - 1]  # community 0 comes first
            if stage in UNIT_STAGES:
                if at_unit % 3 != 2 and sanitation:
                    plan.spec = rng.choices(sanitation, weights=[s.weight for s in sanitation])[0]
                    if plan.urgency == Urgency.URGENT and not plan.spec.urgent:
                        plan.urgency = Urgency.PRESSING
                at_unit += 1
            lights = OPEN_LIGHTS.get(stage, ("green",))
            light = lights[(order // len(FREEZE_STAGES)) % len(lights)]
            plan.schedule = self._open_schedule(plan, STAGE_CALLS[stage], light, rng)
            plan.reported_at = plan.schedule["submit"]

    def _open_schedule(
        self, plan: _Plan, calls: tuple[str, ...], light: str, rng: random.Random
    ) -> dict[str, dt.datetime]:
        """The time of each of ``calls`` (see _time_open_work), all at or before the end."""
        steps = [self._step_after(call, plan) for call in calls]
        current = max(i for i, step in enumerate(steps) if step is not None)
        limit, clock = steps[current] or (0, Clock.WORKING)
        spent = limit * rng.uniform(*LIGHT_SHARES[light])
        started = self._before(self.end, spent, clock)
        times: dict[str, dt.datetime] = {calls[current]: started}
        inside = calls[current + 1 :]
        for call, share in zip(inside, sorted(rng.uniform(0.1, 0.9) for _c in inside), strict=True):
            times[call] = self._forward(started, spent * share, clock)
        moment = started
        for index in range(current, 0, -1):
            running = next(s for s in reversed(steps[:index]) if s is not None)
            moment = self._before(moment, running[0] * rng.uniform(0.15, 0.7), running[1])
            times[calls[index - 1]] = moment
        schedule: dict[str, dt.datetime] = {}
        previous: dt.datetime | None = None
        for call in calls:
            moment = min(times[call], self.end).replace(microsecond=0)
            if previous is not None and moment <= previous:
                moment = previous + dt.timedelta(seconds=1)
            schedule[call] = previous = moment
        return schedule

    def _step_after(self, call: str, plan: _Plan) -> tuple[float, str] | None:
        """(limit, clock) of the step that ``call`` starts, as the case services set it; None
        for a call inside a step (its clock keeps running)."""
        urgent = plan.urgency == Urgency.URGENT
        intake = Clock.NATURAL if urgent else Clock.WORKING
        if call == "submit":
            return case_services.step_limit("accept"), intake
        if call in ("accept", "verify"):
            return case_services.step_limit("file_urgent" if urgent else "file"), intake
        if call == "file":
            return case_services.step_limit("dispatch_urgent" if urgent else "dispatch"), intake
        if call == "dispatch":
            category = self.categories[plan.spec.code]
            return case_services.disposal_limit(Case(category=category, urgency=plan.urgency))
        if call == "process":
            return case_services.step_limit("check"), intake
        if call == "check_start":
            return case_services.step_limit("close"), intake
        if call in ("check_finish", "self_handle"):
            return case_services.step_limit("rate"), Clock.WORKING
        return None

    # ----------------------------------------------------------------------- simulation

    def _simulate(self, plans: list[_Plan]) -> None:
        heap: list[tuple[dt.datetime, int, Generator[dt.datetime, None, None]]] = []
        counter = itertools.count()
        for plan in plans:
            script = self._script(plan)
            heapq.heappush(heap, (next(script), next(counter), script))
        sweeps = self._daily_sweeps()
        heapq.heappush(heap, (next(sweeps), next(counter), sweeps))
        total = len(plans)
        marks = [max(1, round(total * k / 10)) for k in range(1, 11)]
        started = time.perf_counter()
        while heap:
            with transaction.atomic():
                for _event in range(EVENT_BATCH):
                    if not heap:
                        break
                    at, order, script = heapq.heappop(heap)
                    if at > self.end:
                        script.close()  # stays where the clock left it
                        continue
                    with time_machine.travel(at, tick=False):
                        try:
                            following = next(script)
                        except StopIteration:
                            self.running -= 1
                            continue
                        except CaseError as error:
                            self.running -= 1
                            self.result.failed_steps.append(f"{at.isoformat()}: {error.message}")
                            continue
                    heapq.heappush(heap, (following, order, script))
                    while marks and self.submitted >= marks[0]:
                        marks.pop(0)
                        self.progress(
                            _("Cases: %(percent)d%% (%(done)d of %(total)d) in %(seconds)d s.")
                            % {
                                "percent": self.submitted * 100 // max(total, 1),
                                "done": self.submitted,
                                "total": total,
                                "seconds": time.perf_counter() - started,
                            }
                        )
        with time_machine.travel(self.end, tick=False), transaction.atomic():
            case_services.case_escalate_overdue(now=self.end)

    def _daily_sweeps(self) -> Generator[dt.datetime, None, None]:
        """The periodic overdue sweep, as it would run at the end of every working day (skipped
        while no case is under way, where it would find nothing)."""
        day = self.start.date()
        while True:
            if is_workday(day):
                yield dt.datetime.combine(day, dt.time(17, 45), tzinfo=self.tz).astimezone(dt.UTC)
                if self.running:
                    case_services.case_escalate_overdue()
            day += dt.timedelta(days=1)

    # time helpers ---------------------------------------------------------------------------

    def _within(
        self, now: dt.datetime, case: Case, lo: float, hi: float, rng: random.Random
    ) -> dt.datetime:
        """A moment after ``now``: a share (``lo``..``hi``) of the time left until the current
        step's deadline, counted on the step's clock. Shares above 1 land after the deadline."""
        share = rng.uniform(lo, hi)
        clock = case.step_clock
        deadline = case.deadline_at
        limit = case.step_limit_minutes or 30
        if deadline is None:
            return self._after(now, limit * share, clock)
        if clock == Clock.NATURAL:
            left = (deadline - now).total_seconds() / 60
        else:
            left = self.calendar.working_minutes_between(now, deadline)
        if left <= 1:
            left = limit * 0.25
        return self._after(now, max(1.0, left * share), clock)

    def _after(self, now: dt.datetime, minutes: float, clock: str) -> dt.datetime:
        if clock == Clock.NATURAL:
            moment = now + dt.timedelta(minutes=minutes)
        else:
            moment = self.calendar.add_working_minutes(now, minutes)
        return moment.replace(microsecond=0) + dt.timedelta(seconds=1)

    def _forward(self, moment: dt.datetime, minutes: float, clock: str) -> dt.datetime:
        """``minutes`` after ``moment`` on ``clock``."""
        if clock == Clock.NATURAL:
            return moment + dt.timedelta(minutes=minutes)
        return self.calendar.add_working_minutes(moment, minutes)

    def _before(self, moment: dt.datetime, minutes: float, clock: str) -> dt.datetime:
        """The latest instant from which ``minutes`` on ``clock`` have passed at ``moment``."""
        if clock == Clock.NATURAL:
            return moment - dt.timedelta(minutes=minutes)
        days = 4
        while True:
            start = moment - dt.timedelta(days=days)
            available = self.calendar.working_minutes_between(start, moment)
            if available >= minutes:
                return self.calendar.add_working_minutes(start, available - minutes)
            days *= 2

    def _working(self, now: dt.datetime, lo: float, hi: float, rng: random.Random) -> dt.datetime:
        return self._after(now, rng.uniform(lo, hi), Clock.WORKING)

    def _waking(
        self, now: dt.datetime, lo_hours: float, hi_hours: float, rng: random.Random
    ) -> dt.datetime:
        """Some hours later, moved out of the night (residents act between 07:00 and 22:00)."""
        moment = now + dt.timedelta(hours=rng.uniform(lo_hours, hi_hours))
        local = moment.astimezone(self.tz)
        if local.hour < 7 or local.hour >= 22:
            day = local.date() + dt.timedelta(days=1 if local.hour >= 22 else 0)
            local = dt.datetime.combine(
                day, dt.time(7 + rng.randrange(3), rng.randrange(60)), tzinfo=self.tz
            )
        return local.astimezone(dt.UTC).replace(microsecond=0)

    # actors ---------------------------------------------------------------------------------

    def _on_duty(self, now: dt.datetime, first: str, second: str) -> User:
        """Two colleagues alternate by day."""
        day = now.astimezone(self.tz).date()
        return self.users[first if day.toordinal() % 2 else second]

    def _operator(self, now: dt.datetime) -> User:
        return self._on_duty(now, "operator", "operator2")

    def _leader(self, now: dt.datetime) -> User:
        return self._on_duty(now, "leader", "leader2")

    def _note(self, rng: random.Random, options: tuple[str, ...]) -> str:
        return rng.choice(options)

    def _process_note(self, rng: random.Random, code: str) -> str:
        for length in (3, 1):
            options = names.PROCESS_NOTES.get(code[:length])
            if options:
                return rng.choice(options)
        return names.DEFAULT_PROCESS_NOTE

    # the case script ------------------------------------------------------------------------

    def _script(self, plan: _Plan) -> Generator[dt.datetime, None, None]:
        rng = plan.rng
        spec = plan.spec
        category = self.categories[spec.code]
        now = plan.reported_at
        yield now
        self.running += 1
        case = self._submit(plan, category)
        if plan.freeze == "reported":
            return

        if plan.outcome == "self_handle":
            worker = plan.cell.worker
            assert worker is not None
            now = plan.when("self_handle") or self._after(now, rng.uniform(5, 40), Clock.NATURAL)
            yield now
            case = case_services.case_self_handle(
                actor=worker,
                case=case,
                note=self._note(rng, names.SELF_HANDLE_NOTES),
                before=self._photo(rng),
                after=self._photo(rng),
            )
            if plan.freeze == "self_review":
                return
            now = self._working(now, 20, 300, rng)
            yield now
            approve = rng.random() < 0.93
            case = case_services.case_self_handle_review(
                actor=self._leader(now),
                case=case,
                approve=approve,
                note="" if approve else "现场照片不清楚，请派单位处理。",
            )
            if approve:
                yield from self._rate(plan, case, now, poor=False)
                return
            yield from self._dispatch_and_handle(plan, case, self._within(now, case, 0.1, 0.8, rng))
            return

        # intake: accept or cancel
        now = plan.when("accept") or self._within(now, case, 0.15, 0.9, rng)
        yield now
        operator = self._operator(now)
        if plan.outcome in ("invalid", "not_ours", "duplicate"):
            duplicate_of = self._duplicate_of(plan, now) if plan.outcome == "duplicate" else None
            if duplicate_of is not None:
                case_services.case_cancel(
                    actor=operator,
                    case=case,
                    reason=CancelReason.DUPLICATE,
                    note="与已受理案件重复。",
                    duplicate_of=duplicate_of,
                )
            elif plan.outcome == "not_ours":
                case_services.case_cancel(
                    actor=operator,
                    case=case,
                    reason=CancelReason.NOT_OURS,
                    note=self._note(rng, names.CANCEL_NOT_OURS_NOTES),
                )
            else:
                case_services.case_cancel(
                    actor=operator,
                    case=case,
                    reason=CancelReason.INVALID,
                    note=self._note(rng, names.CANCEL_INVALID_NOTES),
                )
            return
        corrected = None
        if (
            plan.source == Source.RESIDENT
            and plan.schedule is None
            and spec.code in CORRECTIONS
            and rng.random() < 0.12
        ):
            corrected = self.categories.get(CORRECTIONS[spec.code])
        case = case_services.case_accept(
            actor=operator,
            case=case,
            category=corrected,
            note="已受理。" if rng.random() < 0.3 else "",
        )
        self._remember(plan, case, now)
        if plan.freeze == "accepted":
            return
        if plan.freeze == "verified" or (
            plan.freeze is None and plan.source != Source.PATROL and rng.random() < 0.15
        ):
            now = plan.when("verify") or self._within(now, case, 0.2, 0.9, rng)
            yield now
            assert plan.cell.worker is not None
            case = case_services.case_verify(
                actor=plan.cell.worker,
                case=case,
                note=self._note(rng, names.VERIFY_NOTES),
                photos=self._photo(rng) if rng.random() < 0.4 else (),
            )
            if plan.freeze == "verified":
                return
        now = plan.when("file") or self._within(now, case, 0.15, 0.9, rng)
        yield now
        case = case_services.case_file(actor=self._leader(now), case=case)
        if plan.freeze == "filed":
            return
        dispatch_at = plan.when("dispatch") or self._within(now, case, 0.1, 0.8, rng)
        yield from self._dispatch_and_handle(plan, case, dispatch_at)

    def _dispatch_and_handle(
        self, plan: _Plan, case: Case, now: dt.datetime
    ) -> Generator[dt.datetime, None, None]:
        rng = plan.rng
        dispatcher = self.users["dispatcher"]
        yield now
        case = case_services.case_dispatch(actor=dispatcher, case=case)
        if plan.freeze == "dispatched":
            return
        poor = False

        if plan.outcome == "return":
            unit = case.unit
            assert unit is not None
            now = plan.when("return_request") or self._within(now, case, 0.03, 0.15, rng)
            yield now
            case_services.case_return_request(
                actor=self.handlers[unit.pk],
                case=case,
                reason=self._note(rng, names.RETURN_REASONS),
            )
            if plan.freeze == "return_pending":
                return
            now = self._working(now, 5, 25, rng)
            yield now
            if rng.random() < 0.8:
                case = case_services.case_return_decide(actor=dispatcher, case=case, approve=True)
                target = self.units[rng.choice(CONFUSED.get(unit.code, ("dept-appearance",)))]
                now = self._within(now, case, 0.1, 0.7, rng)
                yield now
                case = case_services.case_dispatch(
                    actor=dispatcher,
                    case=case,
                    unit=target,
                    reason=self._note(rng, names.TRANSFER_REASONS),
                )
                poor = rng.random() < 0.4
            else:
                case = case_services.case_return_decide(
                    actor=dispatcher,
                    case=case,
                    approve=False,
                    note=self._note(rng, names.RETURN_REJECT_NOTES),
                )

        if plan.outcome == "transfer":
            unit = case.unit
            assert unit is not None
            now = self._within(now, case, 0.05, 0.2, rng)
            yield now
            case = case_services.case_start(actor=self.handlers[unit.pk], case=case)
            now = self._working(now, 20, 120, rng)
            yield now
            target = self.units[rng.choice(CONFUSED.get(unit.code, ("dept-appearance",)))]
            case = case_services.case_transfer(
                actor=dispatcher,
                case=case,
                unit=target,
                reason=self._note(rng, names.TRANSFER_REASONS),
            )
            poor = rng.random() < 0.3

        yield from self._handle(plan, case, now, poor=poor)

    def _handle(
        self, plan: _Plan, case: Case, now: dt.datetime, *, poor: bool
    ) -> Generator[dt.datetime, None, None]:
        rng = plan.rng
        unit = case.unit
        assert unit is not None
        handler = self.handlers[unit.pk]
        if plan.freeze in ("processing", "extension_pending", "hold_pending", "on_hold") or (
            plan.schedule is None and rng.random() < 0.25
        ):
            now = plan.when("start") or self._within(now, case, 0.05, 0.3, rng)
            yield now
            case = case_services.case_start(actor=handler, case=case, note="已到达现场。")
            if plan.freeze == "processing":
                return

        process_at: dt.datetime | None = None
        if plan.outcome == "extension":
            now = plan.when("extension_request") or self._within(now, case, 0.5, 0.85, rng)
            yield now
            extra = rng.choice((420, 840, 1260))
            case_services.case_extension_request(
                actor=handler,
                case=case,
                extra_minutes=extra,
                reason=self._note(rng, names.EXTENSION_REASONS),
            )
            if plan.freeze == "extension_pending":
                return
            now = self._working(now, 10, 90, rng)
            yield now
            approve = rng.random() < 0.85
            case = case_services.case_extension_decide(
                actor=self._leader(now),
                case=case,
                approve=approve,
                note="" if approve else "请按原时限完成。",
            )
            process_at = self._within(now, case, 0.3, 0.9 if approve else 1.6, rng)
        elif plan.outcome == "hold":
            now = plan.when("hold_request") or self._within(now, case, 0.15, 0.4, rng)
            yield now
            case_services.case_hold_request(
                actor=handler, case=case, reason=self._note(rng, names.HOLD_REASONS)
            )
            if plan.freeze == "hold_pending":
                return
            now = plan.when("hold_decide") or self._working(now, 10, 60, rng)
            yield now
            case = case_services.case_hold_decide(actor=self._leader(now), case=case, approve=True)
            if plan.freeze == "on_hold":
                return
            now = self._working(now, 420, 1260, rng)
            yield now
            case = case_services.case_resume(actor=handler, case=case, note="条件具备，恢复处置。")
            process_at = self._within(now, case, 0.2, 0.8, rng)
        elif plan.outcome == "overdue":
            process_at = self._within(now, case, 1.3, 3.0, rng)
            deadline = case.deadline_at
            if deadline is not None and deadline < process_at:
                sweep_at = deadline + (process_at - deadline) * rng.uniform(0.1, 0.6)
                sweep_at = max(sweep_at.replace(microsecond=0), now + dt.timedelta(seconds=1))
                yield sweep_at
                case_services.case_escalate_overdue(now=sweep_at)
                now = sweep_at
            poor = poor or rng.random() < 0.5
        else:
            process_at = plan.when("process") or self._within(now, case, 0.2, 0.9, rng)
        if process_at <= now:
            process_at = now + dt.timedelta(minutes=1)

        rounds = 2 if plan.outcome == "rework" else 1
        for round_number in range(1, rounds + 1):
            now = process_at
            yield now
            case = case_services.case_process(
                actor=handler,
                case=case,
                note=self._process_note(rng, plan.spec.code),
                photos=self._photo(rng),
            )
            if plan.freeze == "processed":
                return
            checker = self._checker(plan, case)
            now = plan.when("check_start") or self._within(now, case, 0.1, 0.7, rng)
            yield now
            case = case_services.case_check_start(actor=checker, case=case)
            if plan.freeze == "checking":
                return
            now = plan.when("check_finish") or self._within(now, case, 0.2, 0.9, rng)
            yield now
            passed = round_number == rounds
            case = case_services.case_check_finish(
                actor=checker,
                case=case,
                passed=passed,
                note=self._note(
                    rng, names.CHECK_PASS_NOTES if passed else names.CHECK_FAIL_REASONS
                ),
                photos=self._photo(rng) if not passed else (),
            )
            if not passed:
                poor = True
                process_at = self._within(now, case, 0.2, 0.8, rng)
        yield from self._rate(plan, case, now, poor=poor)

    def _checker(self, plan: _Plan, case: Case) -> User:
        if plan.source == Source.RESIDENT and plan.reporter is not None and plan.rng.random() < 0.1:
            return plan.reporter
        assert plan.cell.worker is not None
        return plan.cell.worker

    def _rate(
        self, plan: _Plan, case: Case, now: dt.datetime, *, poor: bool
    ) -> Generator[dt.datetime, None, None]:
        rng = plan.rng
        if plan.freeze == "closed" or plan.source == Source.PATROL:
            return
        roll = rng.random()
        if plan.source == Source.RESIDENT and plan.reporter is not None and roll < 0.6:
            now = self._waking(now, 1, 40, rng)
            yield now
            rater = plan.reporter
        elif roll < 0.95:
            now = self._within(now, case, 0.05, 0.8, rng)
            yield now
            rater = self._operator(now)
        else:
            return  # never rated
        level = rng.choices(
            SATISFACTIONS, weights=SATISFACTION_WEIGHTS["poor" if poor else "good"]
        )[0]
        resolved = level not in (Satisfaction.DISSATISFIED,) or rng.random() < 0.3
        case_services.case_rate(
            actor=rater,
            case=case,
            satisfaction=level,
            resolved=resolved,
            contacted=rater == plan.reporter or rng.random() < 0.97,
            comment=rng.choice(names.RATING_COMMENTS[level]),
        )

    # steps with bookkeeping -----------------------------------------------------------------

    def _submit(self, plan: _Plan, category: Category) -> Case:
        rng = plan.rng
        cell = plan.cell
        community = COMMUNITIES[cell.community]
        margin_x = (cell.east - cell.west) * 0.05
        margin_y = (cell.north - cell.south) * 0.05
        lat = round(rng.uniform(cell.south + margin_y, cell.north - margin_y), 6)
        lng = round(rng.uniform(cell.west + margin_x, cell.east - margin_x), 6)
        place = names.address(rng, community[1])
        templates = names.DESCRIPTIONS.get(plan.spec.code) or ("{place}：{name}。",)
        description = rng.choice(templates).format(place=place, name=category.name)
        reporter_name = reporter_phone = ""
        anonymous = False
        photos: list[CheckedPhoto] = []
        if plan.source == Source.PATROL:
            actor = cell.worker
            photos = self._photo(rng) if rng.random() < 0.5 else []
        elif plan.source == Source.HOTLINE:
            actor = self.users["hotline"]
            caller = self._resident(rng, cell.community)
            reporter_name, reporter_phone = caller.display_name, caller.phone
        else:
            actor = self._resident(rng, cell.community)
            plan.reporter = actor
            anonymous = rng.random() < 0.15
            photos = self._photo(rng) if rng.random() < 0.12 else []
        submission = case_services.case_submit(
            actor=actor,
            category=category,
            description=description,
            lat=lat,
            lng=lng,
            address=place,
            nature=plan.spec.nature,
            urgency=plan.urgency,
            source=plan.source,
            photos=photos,
            is_anonymous=anonymous,
            reporter_name=reporter_name,
            reporter_phone=reporter_phone,
            # A separate stream, so the rest of the demo stays as it was.
            attributes=_demo_answers(random.Random(f"{description}|{category.code}"), category),
        )
        self.submitted += 1
        case = submission.case
        # "Me too": now and then a neighbour follows an open case.
        if plan.source == Source.RESIDENT and rng.random() < 0.04:
            follower = self._resident(rng, cell.community)
            if follower.pk != actor.pk:  # type: ignore[union-attr]
                case_services.case_follow(actor=follower, case=case)
        return case

    def _resident(self, rng: random.Random, community: int) -> User:
        home = community if rng.random() < 0.85 else rng.randrange(3)
        pool = self.residents[home] or self.residents[0] or [self.users["resident"]]
        weights = self.resident_weights[home] if self.residents[home] else None
        return rng.choices(pool, weights=weights)[0]

    def _remember(self, plan: _Plan, case: Case, now: dt.datetime) -> None:
        self.recent[(case.category.code, plan.cell.community)].append((now, case))

    def _duplicate_of(self, plan: _Plan, now: dt.datetime) -> Case | None:
        window = now - dt.timedelta(hours=72)
        for seen_at, earlier in reversed(self.recent[(plan.spec.code, plan.cell.community)]):
            if seen_at >= window:
                return earlier
        return None


def _demo_answers(rng: random.Random, category: Any) -> dict[str, Any]:
    """Answers to the category's questions: every required one, and the list questions half
    the time (free-text questions stay empty; the description already says it)."""
    answers: dict[str, Any] = {}
    for question in category_attributes(category):
        if not question.variable or not (question.required or rng.random() < 0.5):
            continue
        if question.datatype == "singlevaluelist":
            answers[question.code] = rng.choice(question.keys)
        elif question.datatype == "multivaluelist":
            answers[question.code] = rng.sample(question.keys, rng.randint(1, 2))
        elif question.datatype == "number":
            answers[question.code] = rng.randint(5, 40)
        elif question.required:
            answers[question.code] = "-"
    return answers
