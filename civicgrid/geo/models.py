"""Areas (district → street → community) and unit grid cells, with polygons as GeoJSON (WGS84)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.core.names import BilingualName


class AreaLevel(models.TextChoices):
    DISTRICT = "district", _("District")
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")


CODE_LENGTH = {AreaLevel.DISTRICT: 6, AreaLevel.STREET: 9, AreaLevel.COMMUNITY: 12}
GRID_CODE_LENGTH = 15


class Area(BilingualName, models.Model):
    """An administrative area (行政区域): district (6 digits), street (9) or community (12).

    The code extends the parent's code, so codes roll up by prefix.
    """

    code = models.CharField(
        _("code"), max_length=12, unique=True, validators=[RegexValidator(r"^\d{6}(\d{3}){0,2}$")]
    )
    level = models.CharField(_("level"), max_length=12, choices=AreaLevel.choices)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name in English"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    geometry = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(level="district", code__regex=r"^\d{6}$")
                    | models.Q(level="street", code__regex=r"^\d{9}$")
                    | models.Q(level="community", code__regex=r"^\d{12}$")
                ),
                name="area_code_matches_level",
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"


class CellType(models.TextChoices):
    BASIC = "basic", _("Basic grid")
    SCHOOL = "school", _("School")
    MARKET = "market", _("Market")
    PARK = "park", _("Park")
    HOSPITAL = "hospital", _("Hospital")
    INDUSTRIAL = "industrial", _("Industrial park")
    OTHER = "other", _("Other special-purpose")


class GridCell(BilingualName, models.Model):
    """A unit grid cell (单元网格): 15-digit code = community code (12) + sequence (3)."""

    code = models.CharField(
        _("grid code"), max_length=15, unique=True, validators=[RegexValidator(r"^\d{15}$")]
    )
    community = models.ForeignKey(
        Area,
        verbose_name=_("community"),
        on_delete=models.PROTECT,
        related_name="cells",
        limit_choices_to={"level": AreaLevel.COMMUNITY},
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    name_en = models.CharField(_("name in English"), max_length=100, blank=True)
    cell_type = models.CharField(
        _("type"), max_length=20, choices=CellType.choices, default=CellType.BASIC
    )
    geometry = models.JSONField(_("polygon (GeoJSON)"))
    # Bounding box and centre, kept for cheap filtering and map centring.
    min_lng = models.FloatField()
    min_lat = models.FloatField()
    max_lng = models.FloatField()
    max_lat = models.FloatField()
    centroid_lng = models.FloatField()
    centroid_lat = models.FloatField()
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("grid cell")
        verbose_name_plural = _("grid cells")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^\d{15}$"), name="cell_code_15")
        ]

    def __str__(self) -> str:
        return self.display_name or self.code

    @property
    def district_code(self) -> str:
        return self.code[:6]


class GridRole(models.TextChoices):
    LEADER = "leader", _("Grid leader")
    FULL_TIME = "full_time", _("Full-time grid worker")
    PART_TIME = "part_time", _("Part-time grid worker")
    SUPERVISOR = "supervisor", _("Grid supervisor")


class GridMember(models.Model):
    """A person serving a grid cell (网格员) in a role for a period."""

    cell = models.ForeignKey(
        GridCell, verbose_name=_("grid cell"), on_delete=models.CASCADE, related_name="members"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="grid_memberships",
    )
    role = models.CharField(_("role"), max_length=20, choices=GridRole.choices)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)

    class Meta:
        verbose_name = _("grid member")
        verbose_name_plural = _("grid members")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="grid_member_valid_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.cell.code}"


class GeoVersion(models.Model):
    """The one row (pk=1) whose counter every write to areas or cells increments.

    Point lookup caches its spatial index per process and compares this counter, at most once a
    second, to notice changes made by any process (an import on one server, lookups on another).
    """

    version = models.BigIntegerField(_("version"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("geography version")
        verbose_name_plural = _("geography versions")

    def __str__(self) -> str:
        return f"geo v{self.version}"


class BaseMapKind(models.TextChoices):
    """What a base-map feature is, and so how it is drawn (and which geometry it may have)."""

    STREET = "street", _("Street")
    PATH = "path", _("Path")
    BUILDING = "building", _("Building")
    GREEN = "green", _("Park or green")
    WATER = "water", _("Water")
    LANDMARK = "landmark", _("Landmark")


class BaseMapFeature(BilingualName, models.Model):
    """One street, building, green, water or landmark of the offline base map.

    The report and case maps draw these under the grid cells when no tile server is configured
    (an intranet with no internet), so a resident recognises the place. Imported as a whole
    from GeoJSON (``manage.py import_basemap``; :mod:`civicgrid.geo.basemap`); the demo makes
    its own.
    """

    kind = models.CharField(_("kind"), max_length=12, choices=BaseMapKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    name_en = models.CharField(_("name in English"), max_length=100, blank=True)
    geometry = models.JSONField(_("geometry"))
    min_lat = models.FloatField()
    min_lng = models.FloatField()
    max_lat = models.FloatField()
    max_lng = models.FloatField()

    class Meta:
        verbose_name = _("base map feature")
        verbose_name_plural = _("base map features")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.display_name or self.get_kind_display()
