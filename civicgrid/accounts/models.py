"""Users, roles and organizations."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.core.names import BilingualName

from .notifications import notification_text

area_code_validator = RegexValidator(
    r"^(\d{6}|\d{9}|\d{12}|\d{15})?$",
    _("An area code has 6, 9, 12 or 15 digits."),
)


class OrganizationKind(models.TextChoices):
    DEPARTMENT = "department", _("Government department")
    CONTRACTOR = "contractor", _("Contractor")
    COMMITTEE = "committee", _("Community committee")
    STREET_OFFICE = "street_office", _("Street office")
    CLIENT = "client", _("API client (app or partner platform)")


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    GRID_WORKER = "grid_worker", _("Grid worker")
    OPERATOR = "operator", _("Operator")
    SHIFT_LEADER = "shift_leader", _("Shift leader")
    DISPATCHER = "dispatcher", _("Dispatcher")
    UNIT_HANDLER = "unit_handler", _("Unit handler")
    SUPERVISOR = "supervisor", _("Supervisor")
    COMMITTEE_MEMBER = "committee_member", _("Committee member")
    ADMINISTRATOR = "administrator", _("Administrator")


STAFF_ROLES = frozenset(Role) - {Role.RESIDENT}


class Organization(BilingualName, models.Model):
    """An organization (组织): a department (G), a contractor (B), a committee or a street office.

    ``area_code`` is the prefix of the area it serves (a district, street or community code);
    it is a code, not a foreign key, because accounts sit below geo in the layers.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=OrganizationKind.choices)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_en = models.CharField(_("name in English"), max_length=120, blank=True)
    area_code = models.CharField(
        _("area served"), max_length=15, blank=True, validators=[area_code_validator]
    )
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT
    )
    phone = models.CharField(_("public phone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_unit(self) -> bool:
        """Departments and contractors are the units that handle cases."""
        return self.kind in (OrganizationKind.DEPARTMENT, OrganizationKind.CONTRACTOR)


class User(AbstractUser):
    """A person with one role (用户). Staff are scoped by organization and area code."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.RESIDENT)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organization"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    area_code = models.CharField(
        _("area of responsibility"),
        max_length=15,
        blank=True,
        validators=[area_code_validator],
        help_text=_("Staff see cases whose grid code starts with this prefix; empty means all."),
    )
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    large_text = models.BooleanField(_("large text"), default=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_resident(self) -> bool:
        return self.role == Role.RESIDENT

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    def has_role(self, *roles: str) -> bool:
        return self.is_active and (self.role in roles or self.role == Role.ADMINISTRATOR)

    def covers_area(self, code: str) -> bool:
        """True when the user's area prefix covers the given area or grid code."""
        return not self.area_code or code.startswith(self.area_code)


class ApiToken(models.Model):
    """A personal token for API clients (Authorization: Bearer <token>). Only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ClientKey(models.Model):
    """An Open311 ``api_key`` (接口密钥) issued to a client organization: an app, a hotline
    platform or a partner system that submits service requests. Only its hash is stored; each
    case it submits records the key, and each key has its own rate limit."""

    organization = models.ForeignKey(
        Organization,
        verbose_name=_("client organization"),
        on_delete=models.PROTECT,
        related_name="client_keys",
    )
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(_("prefix"), max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        default=60,
        help_text=_("Submissions accepted per minute with this key; more are refused with 429."),
    )
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 API key")
        verbose_name_plural = _("Open311 API keys")
        ordering = ["organization__code", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate_per_minute__gte=1, rate_per_minute__lte=100000),
                name="client_key_rate_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Notification(models.Model):
    """A message to one user (escalations, decisions awaited), shown in their work queue."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    # What happened, not a sentence: read in the reader's language (accounts/notifications.py).
    event = models.CharField(_("event"), max_length=60)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe",
            )
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The notification in the active language."""
        return notification_text(self.event, self.params)
