"""Categories, routing, cases and their trace: the closed loop (闭环)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.models import ClientKey, Organization
from civicgrid.core.names import BilingualName
from civicgrid.geo.models import GridCell


class Branch(models.TextChoices):
    COMPONENT = "component", _("Component (public facility)")
    EVENT = "event", _("Event")
    GOVERNANCE = "governance", _("Community governance")
    HOTLINE = "hotline", _("Hotline topic")


class Urgency(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    PRESSING = "pressing", _("Pressing")
    NORMAL = "normal", _("Normal")


class Nature(models.TextChoices):
    CONSULTATION = "consultation", _("Consultation")
    HELP = "help", _("Request for help")
    COMPLAINT = "complaint", _("Complaint")
    REPORT = "report", _("Report")
    SUGGESTION = "suggestion", _("Suggestion")
    PRAISE = "praise", _("Praise")


class Source(models.TextChoices):
    RESIDENT = "resident", _("Resident (web or app)")
    PATROL = "patrol", _("Grid worker patrol")
    HOTLINE = "hotline", _("Hotline")
    SENSOR = "sensor", _("Sensor")
    OPEN311 = "open311", _("Open311 client")
    OPINION = "opinion", _("Resident message")
    ASSIGNED = "assigned", _("Higher-level assignment")


class Clock(models.TextChoices):
    WORKING = "working", _("Working time")
    NATURAL = "natural", _("Around the clock")


class Category(BilingualName, models.Model):
    """A case category (案件类别): a node of the tree; cases are filed under leaves.

    Filing and closing conditions, the default responsible unit and the time limits per urgency
    are data, so each city edits them without code.
    """

    code = models.CharField(_("code"), max_length=20, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    branch = models.CharField(_("branch"), max_length=12, choices=Branch.choices)
    name = models.CharField(_("name"), max_length=80)
    name_en = models.CharField(_("name in English"), max_length=120)
    filing_condition = models.TextField(_("filing condition"), blank=True)
    closing_condition = models.TextField(_("closing condition"), blank=True)
    default_unit = models.ForeignKey(
        Organization,
        verbose_name=_("default responsible unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_public = models.BooleanField(_("residents may report it"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(default=0)
    attributes = models.JSONField(
        _("extra questions"),
        default=list,
        blank=True,
        help_text=_(
            "Questions asked when reporting under this category (Open311 attributes); "
            "see docs/modules/cases.md for the format."
        ),
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.display_name


class TimeLimit(models.Model):
    """How long disposal may take for a category at an urgency (处置时限)."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="time_limits")
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    limit_minutes = models.PositiveIntegerField(_("limit (minutes)"))
    clock = models.CharField(_("clock"), max_length=10, choices=Clock.choices)

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(fields=["category", "urgency"], name="time_limit_unique"),
            models.CheckConstraint(condition=models.Q(limit_minutes__gt=0), name="limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.category_id} {self.urgency} {self.limit_minutes}"


class RoutingRule(models.Model):
    """A row of the responsibility matrix (责任矩阵): grid cell × category → unit.

    A rule without a cell applies to the whole category (a fallback before the category's
    default unit).
    """

    cell = models.ForeignKey(
        GridCell, verbose_name=_("grid cell"), null=True, blank=True, on_delete=models.CASCADE
    )
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.CASCADE)
    unit = models.ForeignKey(Organization, verbose_name=_("unit"), on_delete=models.PROTECT)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        constraints = [
            models.UniqueConstraint(fields=["cell", "category"], name="routing_unique"),
            models.UniqueConstraint(
                fields=["category"],
                condition=models.Q(cell__isnull=True),
                name="routing_category_default_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cell_id or '*'} × {self.category_id} → {self.unit_id}"


class Status(models.TextChoices):
    REPORTED = "reported", _("Reported")
    ACCEPTED = "accepted", _("Accepted")
    VERIFIED = "verified", _("Verified on site")
    FILED = "filed", _("Filed")
    DISPATCHED = "dispatched", _("Dispatched")
    PROCESSING = "processing", _("Processing")
    PROCESSED = "processed", _("Processed")
    CHECKING = "checking", _("Checking")
    CLOSED = "closed", _("Closed")
    EVALUATED = "evaluated", _("Evaluated")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = frozenset(
    {
        Status.REPORTED,
        Status.ACCEPTED,
        Status.VERIFIED,
        Status.FILED,
        Status.DISPATCHED,
        Status.PROCESSING,
        Status.PROCESSED,
        Status.CHECKING,
    }
)
FINISHED_STATUSES = frozenset({Status.CLOSED, Status.EVALUATED, Status.CANCELLED})
WITH_UNIT_STATUSES = frozenset({Status.DISPATCHED, Status.PROCESSING})


class Light(models.TextChoices):
    GREEN = "green", _("On time")
    YELLOW = "yellow", _("Near the limit")
    RED = "red", _("Overdue")
    NONE = "none", _("No clock")


class Satisfaction(models.TextChoices):
    VERY_SATISFIED = "very_satisfied", _("Very satisfied")
    SATISFIED = "satisfied", _("Satisfied")
    BASICALLY_SATISFIED = "basically_satisfied", _("Basically satisfied")
    AVERAGE = "average", _("Average")
    DISSATISFIED = "dissatisfied", _("Dissatisfied")


class CancelReason(models.TextChoices):
    INVALID = "invalid", _("Invalid report")
    DUPLICATE = "duplicate", _("Duplicate of another case")
    NOT_OURS = "not_ours", _("Not within our responsibility")


class Case(models.Model):
    """A case (案件 / 工单 / service request) on its way round the closed loop."""

    number = models.CharField(_("number"), max_length=16, unique=True)
    district_code = models.CharField(_("district code"), max_length=6, db_index=True)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT)
    nature = models.CharField(
        _("nature"), max_length=14, choices=Nature.choices, default=Nature.REPORT
    )
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.REPORTED
    )
    description = models.TextField(_("description"), max_length=4000)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    cell = models.ForeignKey(
        GridCell, verbose_name=_("grid cell"), null=True, blank=True, on_delete=models.PROTECT
    )
    asset_ref = models.CharField(_("linked asset"), max_length=40, blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_cases",
    )
    reporter_name = models.CharField(_("reporter name"), max_length=80, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=20, blank=True)
    reporter_email = models.EmailField(_("reporter email"), max_length=120, blank=True)
    is_anonymous = models.BooleanField(_("anonymous to the public"), default=False)
    submission_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    client_ref = models.CharField(_("client reference"), max_length=80, blank=True)
    attributes = models.JSONField(
        _("answers to the category's questions"), default=dict, blank=True
    )
    media_url = models.URLField(_("media link from the client"), max_length=500, blank=True)
    client_key = models.ForeignKey(
        ClientKey,
        verbose_name=_("submitted with API key"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )

    unit = models.ForeignKey(
        Organization,
        verbose_name=_("responsible unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    first_unit = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    reported_at = models.DateTimeField(_("reported at"), db_index=True)
    updated_at = models.DateTimeField(_("updated at"))
    dispatched_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    # The clock of the current step.
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_limit_minutes = models.PositiveIntegerField(null=True, blank=True)
    step_clock = models.CharField(max_length=10, choices=Clock.choices, default=Clock.WORKING)
    warning_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(_("deadline"), null=True, blank=True, db_index=True)
    disposal_deadline_at = models.DateTimeField(_("disposal deadline"), null=True, blank=True)

    # Flags and counters (not states).
    is_on_hold = models.BooleanField(_("on hold"), default=False)
    hold_started_at = models.DateTimeField(null=True, blank=True)
    hold_remaining_minutes = models.FloatField(null=True, blank=True)
    is_overdue = models.BooleanField(_("overdue"), default=False)
    is_supervised = models.BooleanField(_("under supervision"), default=False)
    escalated_step_at = models.DateTimeField(null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(default=0)
    transfer_count = models.PositiveSmallIntegerField(default=0)
    return_count = models.PositiveSmallIntegerField(default=0)
    extension_count = models.PositiveSmallIntegerField(default=0)
    follower_count = models.PositiveIntegerField(default=0)
    was_disposal_late = models.BooleanField(default=False)
    is_self_handled = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=12, choices=CancelReason.choices, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["status", "deadline_at"], name="case_status_deadline"),
            models.Index(fields=["unit", "status"], name="case_unit_status"),
            models.Index(fields=["category", "reported_at"], name="case_category_time"),
            models.Index(fields=["cell", "status"], name="case_cell_status"),
            models.Index(fields=["updated_at"], name="case_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True) | models.Q(lat__gte=-90, lat__lte=90),
                name="case_lat_range",
            ),
            models.CheckConstraint(
                condition=models.Q(lng__isnull=True) | models.Q(lng__gte=-180, lng__lte=180),
                name="case_lng_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["dispatched", "processing"])
                | models.Q(unit__isnull=False),
                name="case_with_unit_has_unit",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def public_point(self) -> tuple[float | None, float | None]:
        """The location anyone may see: about 1 m (5 decimals) for named reports, about 100 m
        (3 decimals) for anonymous ones, so an anonymous reporter's door is not pointed at."""
        if self.lat is None or self.lng is None:
            return None, None
        digits = 3 if self.is_anonymous else 5
        return round(self.lat, digits), round(self.lng, digits)

    def light(self, now: datetime.datetime | None = None) -> str:
        """Traffic light of the current step: green < 80 % of the limit, yellow ≤ 100 %, red."""
        if self.deadline_at is None or not self.is_open:
            return Light.NONE
        if self.is_on_hold:
            return Light.GREEN if not self.is_overdue else Light.RED
        now = now or timezone.now()
        if now > self.deadline_at:
            return Light.RED
        if self.warning_at is not None and now >= self.warning_at:
            return Light.YELLOW
        return Light.GREEN


class Action(models.TextChoices):
    SUBMIT = "submit", _("Reported")
    ACCEPT = "accept", _("Accepted")
    CANCEL = "cancel", _("Cancelled")
    VERIFY = "verify", _("Verified on site")
    FILE = "file", _("Filed")
    DISPATCH = "dispatch", _("Dispatched")
    TRANSFER = "transfer", _("Transferred")
    RETURN_REQUEST = "return_request", _("Return requested")
    RETURN_APPROVE = "return_approve", _("Return approved")
    RETURN_REJECT = "return_reject", _("Return rejected")
    START = "start", _("Processing started")
    PROCESS = "process", _("Processed")
    EXTENSION_REQUEST = "extension_request", _("Extension requested")
    EXTENSION_APPROVE = "extension_approve", _("Extension approved")
    EXTENSION_REJECT = "extension_reject", _("Extension rejected")
    HOLD_REQUEST = "hold_request", _("Hold requested")
    HOLD_APPROVE = "hold_approve", _("Put on hold")
    HOLD_REJECT = "hold_reject", _("Hold rejected")
    RESUME = "resume", _("Resumed")
    CHECK_START = "check_start", _("Check started")
    CHECK_PASS = "check_pass", _("Check passed, closed")
    CHECK_FAIL = "check_fail", _("Check failed, rework")
    SELF_HANDLE = "self_handle", _("Handled on the spot")
    SELF_HANDLE_APPROVE = "self_handle_approve", _("On-the-spot handling confirmed")
    SELF_HANDLE_REJECT = "self_handle_reject", _("On-the-spot handling rejected")
    RATE = "rate", _("Rated")
    ESCALATE = "escalate", _("Overdue, escalated to the supervisor")
    FOLLOW = "follow", _("Followed")


class Trace(models.Model):
    """One step of a case's history (流转记录), written once and never changed.

    Indicators, timelines and Open311 status notes are all read from these rows.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="traces")
    district_code = models.CharField(max_length=6)
    action = models.CharField(_("action"), max_length=24, choices=Action.choices)
    from_status = models.CharField(_("from"), max_length=12, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=12, choices=Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(_("role"), max_length=20, blank=True)
    unit = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("note"), blank=True, max_length=2000)
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(db_index=True)
    on_time = models.BooleanField(null=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("trace")
        verbose_name_plural = _("traces")
        ordering = ["finished_at", "id"]
        indexes = [
            # A case's steps in order, and its latest step (Open311 status_notes), straight
            # from the index: without finished_at in it PostgreSQL may walk the whole
            # finished_at index backwards looking for one case's rows.
            models.Index(fields=["case", "finished_at", "id"], name="trace_case_time"),
            models.Index(fields=["action", "finished_at"], name="trace_action_time"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.action}"


class RequestKind(models.TextChoices):
    RETURN = "return", _("Return (not ours)")
    EXTENSION = "extension", _("Extension")
    HOLD = "hold", _("Hold")
    SELF_HANDLE = "self_handle", _("On-the-spot handling review")


class RequestState(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class CaseRequest(models.Model):
    """A request that waits for someone's decision: return, extension, hold, self-handle review."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="requests")
    kind = models.CharField(max_length=12, choices=RequestKind.choices)
    state = models.CharField(
        max_length=10, choices=RequestState.choices, default=RequestState.PENDING
    )
    reason = models.TextField(max_length=2000)
    extra_minutes = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, max_length=2000)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=models.Q(state="pending"),
                name="one_pending_request_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.state}"


class PhotoStage(models.TextChoices):
    REPORT = "report", _("When reported")
    PROCESS = "process", _("After processing")
    CHECK = "check", _("At the check")
    BEFORE = "before", _("Before (on the spot)")
    AFTER = "after", _("After (on the spot)")


def photo_path(instance: CasePhoto, filename: str) -> str:
    return f"cases/{timezone.now():%Y/%m}/{filename}"


class CasePhoto(models.Model):
    """A photo of a case: the original for staff, a re-encoded copy without EXIF for the public."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    trace = models.ForeignKey(
        Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos"
    )
    stage = models.CharField(max_length=10, choices=PhotoStage.choices)
    original = models.FileField(upload_to=photo_path)
    public = models.FileField(upload_to=photo_path)
    content_type = models.CharField(max_length=40)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.case_id} {self.stage}"


class Follower(models.Model):
    """A resident who follows a case ("me too") instead of reporting it again."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="followers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    followed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="follower_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.case_id}"


class Rating(models.Model):
    """The resident's verdict (评价) or the call-back's: contacted, resolved, satisfaction."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="rating")
    contacted = models.BooleanField(_("contacted"))
    resolved = models.BooleanField(_("resolved"))
    satisfaction = models.CharField(_("satisfaction"), max_length=20, choices=Satisfaction.choices)
    comment = models.TextField(_("comment"), blank=True, max_length=1000)
    is_callback = models.BooleanField(_("by call-back"), default=False)
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.case_id} {self.satisfaction}"
