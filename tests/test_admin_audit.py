"""Configuration edited in the admin is audited like any other write."""

from __future__ import annotations

import pytest

from civicgrid.accounts.models import Organization
from civicgrid.cases.models import RoutingRule
from civicgrid.cases.tests.factories import PASSWORD, build_world
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_changing_an_organization_in_the_admin_writes_an_audit_row(client):
    # given
    w = build_world()
    client.login(username="admin", password=PASSWORD)
    org = w.units["clean"]
    before = AuditRecord.objects.count()
    # when
    response = client.post(
        f"/admin/accounts/organization/{org.pk}/change/",
        {
            "kind": org.kind,
            "code": org.code,
            "name": "洁城环卫有限公司",
            "name_en": org.name_en,
            "area_code": org.area_code,
            "phone": "",
            "is_active": "on",
        },
    )
    # then
    assert response.status_code == 302
    assert Organization.objects.get(pk=org.pk).name == "洁城环卫有限公司"
    rows = AuditRecord.objects.filter(pk__gt=0).order_by("-id")[
        : AuditRecord.objects.count() - before
    ]
    assert [(r.action, r.target_id) for r in rows] == [("admin.change.organization", str(org.pk))]


def test_deleting_a_routing_rule_in_the_admin_is_audited(client):
    w = build_world()
    client.login(username="admin", password=PASSWORD)
    rule = RoutingRule.objects.get(category=w.categories["garbage"])
    response = client.post(f"/admin/cases/routingrule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    assert (
        AuditRecord.objects.filter(
            action="admin.delete.routingrule", target_id=str(rule.pk)
        ).count()
        == 1
    )
