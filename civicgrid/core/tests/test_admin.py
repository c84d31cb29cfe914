from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from civicgrid.core.models import AuditRecord, CalendarDay
from civicgrid.core.services import audit_record

pytestmark = pytest.mark.django_db
User = get_user_model()  # not imported: tests of core stay below accounts in the layers


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username="root.admin", password="x"))
    return client


def test_audit_records_can_be_listed_and_viewed_but_not_added_changed_or_deleted(admin_client_):
    # given
    row = audit_record(actor=None, action="test.step", data={"n": 1})

    # when
    listing = admin_client_.get(reverse("admin:core_auditrecord_changelist"))
    detail = admin_client_.get(reverse("admin:core_auditrecord_change", args=[row.pk]))
    add = admin_client_.get(reverse("admin:core_auditrecord_add"))
    post = admin_client_.post(
        reverse("admin:core_auditrecord_change", args=[row.pk]), {"action": "test.forged"}
    )
    delete = admin_client_.post(
        reverse("admin:core_auditrecord_delete", args=[row.pk]), {"post": "yes"}
    )

    # then
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert b"test.step" in listing.content
    assert (add.status_code, post.status_code, delete.status_code) == (403, 403, 403)
    row.refresh_from_db()
    assert row.action == "test.step"
    assert AuditRecord.objects.count() == 1


def test_saving_a_calendar_override_in_the_admin_is_audited(admin_client_):
    # when
    response = admin_client_.post(
        reverse("admin:core_calendarday_add"),
        {"day": "2027-02-06", "is_workday": "on", "note": "make-up day"},
    )

    # then
    assert response.status_code == 302
    day = CalendarDay.objects.get()
    assert (day.day, day.is_workday, day.note) == (dt.date(2027, 2, 6), True, "make-up day")
    assert list(AuditRecord.objects.values_list("action", "actor_label", "target_id", "data")) == [
        (
            "calendar.day_set",
            "root.admin",
            str(day.pk),
            {"day": "2027-02-06", "is_workday": True, "note": "make-up day"},
        )
    ]


def test_changing_and_deleting_a_calendar_override_in_the_admin_are_audited(admin_client_):
    # given
    day = CalendarDay.objects.create(day=dt.date(2027, 2, 6), is_workday=True)

    # when
    changed = admin_client_.post(
        reverse("admin:core_calendarday_change", args=[day.pk]),
        {"day": "2030-01-01", "note": "cancelled"},  # day is read-only and ignored
    )
    deleted = admin_client_.post(
        reverse("admin:core_calendarday_delete", args=[day.pk]), {"post": "yes"}
    )

    # then
    assert (changed.status_code, deleted.status_code) == (302, 302)
    assert CalendarDay.objects.count() == 0
    assert list(AuditRecord.objects.values_list("action", "data")) == [
        ("calendar.day_set", {"day": "2027-02-06", "is_workday": False, "note": "cancelled"}),
        ("calendar.day_clear", {"day": "2027-02-06", "was_workday": False, "note": "cancelled"}),
    ]


def test_an_invalid_override_form_writes_nothing(admin_client_):
    response = admin_client_.post(
        reverse("admin:core_calendarday_add"), {"day": "2027-02-30", "note": "x"}
    )

    assert response.status_code == 200
    assert CalendarDay.objects.count() == 0
    assert AuditRecord.objects.count() == 0
