"""The geo admin pages load, and their saves go through the services (one audit row each)."""

from __future__ import annotations

import pytest

from civicgrid.core.models import AuditRecord
from civicgrid.geo.models import Area, GridCell, GridMember

from .factories import COMMUNITY, import_grid_3x3, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = user("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client


def test_admin_pages_load(admin_client):
    import_grid_3x3()
    cell = GridCell.objects.get(code=f"{COMMUNITY}001")
    area = Area.objects.get(code=COMMUNITY)
    for url in [
        "/admin/geo/area/",
        f"/admin/geo/area/{area.pk}/change/",
        "/admin/geo/gridcell/",
        f"/admin/geo/gridcell/{cell.pk}/change/",
        "/admin/geo/gridmember/",
        "/admin/geo/gridmember/add/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admin_cell_change_and_member_add_use_the_services(admin_client):
    # given
    import_grid_3x3()
    cell = GridCell.objects.get(code=f"{COMMUNITY}001")
    worker = user("worker")
    audits = AuditRecord.objects.count()
    # when
    changed = admin_client.post(
        f"/admin/geo/gridcell/{cell.pk}/change/",
        {"name": "Riverside", "name_en": "", "cell_type": "park", "is_active": "on"},
    )
    added = admin_client.post(
        "/admin/geo/gridmember/add/",
        {"cell": cell.pk, "user": worker.pk, "role": "leader", "valid_from": "2026-01-01"},
    )
    again = admin_client.post(
        "/admin/geo/gridmember/add/",
        {"cell": cell.pk, "user": worker.pk, "role": "leader", "valid_from": "2026-02-01"},
    )
    # then
    assert (changed.status_code, added.status_code, again.status_code) == (302, 302, 200)
    assert GridCell.objects.get(pk=cell.pk).cell_type == "park"
    assert GridMember.objects.count() == 1
    actions = list(AuditRecord.objects.order_by("id").values_list("action", flat=True))
    assert actions[audits:] == ["geo.cell_update", "geo.grid_member_add"]
