"""A small, complete test world: one community cut into a 3×3 grid, units, categories,
routing and one user per role. Every app's tests build on it.

    world = build_world()
    case = submit(world, lat=world.inside_lat, lng=world.inside_lng)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from civicgrid.accounts.models import Organization, OrganizationKind, Role, User
from civicgrid.cases.models import (
    Branch,
    Case,
    Category,
    Clock,
    RoutingRule,
    TimeLimit,
    Urgency,
)
from civicgrid.cases.photos import CheckedPhoto, check_photo
from civicgrid.cases.services import case_submit
from civicgrid.geo.models import AreaLevel

PASSWORD = "test-pass-2468"
DISTRICT = "110105"
STREET = "110105001"
COMMUNITY = "110105001001"
OTHER_COMMUNITY = "110105001002"
# South-west corner and cell size (degrees) of the 3×3 grid.
LAT0, LNG0, STEP = 39.9200, 116.4500, 0.003


def cell_polygon(row: int, col: int, *, lat0: float = LAT0, lng0: float = LNG0) -> dict[str, Any]:
    """Cell (row, col), row 0 at the north, col 0 at the west."""
    north = lat0 + STEP * (3 - row)
    south = north - STEP
    west = lng0 + STEP * col
    east = west + STEP
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def grid_geojson(community: str = COMMUNITY, *, lat0: float = LAT0, lng0: float = LNG0) -> dict:
    features = []
    for row in range(3):
        for col in range(3):
            seq = row * 3 + col + 1
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": f"{community}{seq:03d}",
                        "name": f"网格{seq}",
                        "name_en": f"Grid {seq}",
                    },
                    "geometry": cell_polygon(row, col, lat0=lat0, lng0=lng0),
                }
            )
    return {"type": "FeatureCollection", "features": features}


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    units: dict[str, Organization] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    # A point in the middle of cell 005 (the centre cell).
    inside_lat: float = LAT0 + STEP * 1.5
    inside_lng: float = LNG0 + STEP * 1.5
    outside_lat: float = LAT0 - 1.0
    outside_lng: float = LNG0 - 1.0

    def __getattr__(self, name: str) -> Any:
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)


def _org(code: str, kind: str, name: str, area: str = COMMUNITY) -> Organization:
    return Organization.objects.create(
        code=code, kind=kind, name=name, name_en=code, area_code=area
    )


def _user(username: str, role: str, *, org: Organization | None = None, area: str = "") -> User:
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        role=role,
        organization=org,
        area_code=area,
        display_name=username,
        phone="13800138000" if role == Role.RESIDENT else "",
    )
    return user


def _category(code: str, branch: str, name: str, name_en: str, parent: Category | None) -> Category:
    return Category.objects.create(
        code=code, branch=branch, name=name, name_en=name_en, parent=parent
    )


def build_world(*, second_community: bool = False) -> World:
    from civicgrid.geo.services import area_create, grid_import

    world = World()
    admin = _user("admin", Role.ADMINISTRATOR)
    admin.is_staff = True
    admin.is_superuser = True
    admin.save()
    district = area_create(actor=admin, code=DISTRICT, level=AreaLevel.DISTRICT, name="示范区")
    street = area_create(
        actor=admin, code=STREET, level=AreaLevel.STREET, name="示范街道", parent=district
    )
    area_create(
        actor=admin, code=COMMUNITY, level=AreaLevel.COMMUNITY, name="示范社区", parent=street
    )
    grid_import(actor=admin, geojson=grid_geojson())
    if second_community:
        area_create(
            actor=admin,
            code=OTHER_COMMUNITY,
            level=AreaLevel.COMMUNITY,
            name="邻近社区",
            parent=street,
        )
        grid_import(actor=admin, geojson=grid_geojson(OTHER_COMMUNITY, lng0=LNG0 + STEP * 3))

    u = world.units
    u["street"] = _org("street-office", OrganizationKind.STREET_OFFICE, "示范街道办事处", STREET)
    u["committee"] = _org("committee", OrganizationKind.COMMITTEE, "示范社区居委会")
    u["city"] = _org("dept-city", OrganizationKind.DEPARTMENT, "城市管理局")
    u["clean"] = _org("clean-co", OrganizationKind.CONTRACTOR, "洁城环卫公司")
    u["lights"] = _org("lights-co", OrganizationKind.CONTRACTOR, "明亮路灯公司")

    c = world.categories
    c["E"] = _category("E", Branch.EVENT, "事件", "Events", None)
    c["E01"] = _category("E01", Branch.EVENT, "市容环境", "Environment", c["E"])
    c["garbage"] = _category("E0101", Branch.EVENT, "暴露垃圾", "Exposed rubbish", c["E01"])
    c["C"] = _category("C", Branch.COMPONENT, "部件", "Components", None)
    c["C01"] = _category("C01", Branch.COMPONENT, "公用设施", "Public utilities", c["C"])
    c["manhole"] = _category(
        "C0101", Branch.COMPONENT, "污水井盖", "Sewage manhole cover", c["C01"]
    )
    c["light"] = _category("C0102", Branch.COMPONENT, "路灯", "Street light", c["C01"])
    for cat in (c["garbage"], c["manhole"], c["light"]):
        TimeLimit.objects.create(
            category=cat, urgency=Urgency.URGENT, limit_minutes=120, clock=Clock.NATURAL
        )
        TimeLimit.objects.create(
            category=cat, urgency=Urgency.PRESSING, limit_minutes=240, clock=Clock.WORKING
        )
        TimeLimit.objects.create(
            category=cat, urgency=Urgency.NORMAL, limit_minutes=420, clock=Clock.WORKING
        )
    RoutingRule.objects.create(category=c["garbage"], unit=u["clean"])
    RoutingRule.objects.create(category=c["light"], unit=u["lights"])
    c["manhole"].default_unit = u["city"]
    c["manhole"].save()

    us = world.users
    us["admin"] = admin
    us["resident"] = _user("resident", Role.RESIDENT)
    us["resident2"] = _user("resident2", Role.RESIDENT)
    us["grid_worker"] = _user("grid_worker", Role.GRID_WORKER, org=u["committee"], area=COMMUNITY)
    us["operator"] = _user("operator", Role.OPERATOR, org=u["street"], area=STREET)
    us["shift_leader"] = _user("shift_leader", Role.SHIFT_LEADER, org=u["street"], area=STREET)
    us["dispatcher"] = _user("dispatcher", Role.DISPATCHER, org=u["street"], area=STREET)
    us["supervisor"] = _user("supervisor", Role.SUPERVISOR, org=u["street"], area=STREET)
    us["committee_member"] = _user(
        "committee_member", Role.COMMITTEE_MEMBER, org=u["committee"], area=COMMUNITY
    )
    us["clean_handler"] = _user("clean_handler", Role.UNIT_HANDLER, org=u["clean"])
    us["lights_handler"] = _user("lights_handler", Role.UNIT_HANDLER, org=u["lights"])
    us["city_handler"] = _user("city_handler", Role.UNIT_HANDLER, org=u["city"])
    us["other_operator"] = _user("other_operator", Role.OPERATOR, area=OTHER_COMMUNITY)
    return world


def png_bytes(size: tuple[int, int] = (64, 48), color: str = "red", *, exif: bool = False) -> bytes:
    img = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "CameraMaker"  # Make
        img.save(out, format="JPEG", exif=data.tobytes())
    else:
        img.save(out, format="PNG")
    return out.getvalue()


def photo(name: str = "photo.png", **kwargs: Any) -> CheckedPhoto:
    return check_photo(io.BytesIO(png_bytes(**kwargs)), name=name)


def upload(name: str = "photo.png", content: bytes | None = None, ctype: str = "image/png"):
    return SimpleUploadedFile(name, content if content is not None else png_bytes(), ctype)


def submit(world: World, **overrides: Any) -> Case:
    kwargs: dict[str, Any] = {
        "actor": world.users["resident"],
        "category": world.categories["garbage"],
        "description": "小区门口有一堆垃圾没人清理",
        "lat": world.inside_lat,
        "lng": world.inside_lng,
    }
    kwargs.update(overrides)
    return case_submit(**kwargs).case
