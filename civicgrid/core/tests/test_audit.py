from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from civicgrid.core.models import AuditChainHead, AuditHeadPublication, AuditRecord, CalendarDay
from civicgrid.core.services import (
    GENESIS_HASH,
    AuditVerification,
    audit_publish_head,
    audit_record,
    audit_seal,
    audit_verify,
    chain_hash,
)

pytestmark = pytest.mark.django_db
User = get_user_model()  # not imported: tests of core stay below accounts in the layers


def make_rows(count: int, actor: object = None) -> list[AuditRecord]:
    target = CalendarDay.objects.create(day=dt.date(2027, 1, 4), is_workday=False)
    return [
        audit_record(actor=actor, action="test.step", target=target, data={"n": n, "text": "中文"})
        for n in range(count)
    ]


def test_audit_record_writes_an_unsealed_row():
    # given
    user = User.objects.create_user(username="wang.operator")
    target = CalendarDay.objects.create(day=dt.date(2027, 1, 4), is_workday=False)

    # when
    row = audit_record(actor=user, action="calendar.day_set", target=target, data={"a": 1})

    # then
    row.refresh_from_db()
    assert (row.actor_id, row.actor_label, row.action) == (
        user.pk,
        "wang.operator",
        "calendar.day_set",
    )
    assert (row.target_type, row.target_id, row.data) == (
        "core.calendarday",
        str(target.pk),
        {"a": 1},
    )
    assert (row.hash, row.prev_hash, row.sealed_at, row.seal_seq) == ("", "", None, None)
    assert row.is_sealed is False


def test_audit_record_without_a_user_is_labelled_system():
    row = audit_record(actor=None, action="system.tick")

    assert (row.actor_id, row.actor_label, row.target_type, row.target_id, row.data) == (
        None,
        "system",
        "",
        "",
        {},
    )


def test_seal_chains_rows_in_id_order_and_is_idempotent():
    # given
    rows = make_rows(3)

    # when
    first = audit_seal()
    second = audit_seal()

    # then
    assert (first, second) == (3, 0)
    sealed = list(AuditRecord.objects.order_by("id"))
    assert [r.seal_seq for r in sealed] == [1, 2, 3]
    assert [r.pk for r in sealed] == [r.pk for r in rows]
    assert sealed[0].prev_hash == GENESIS_HASH
    assert sealed[1].prev_hash == sealed[0].hash
    assert sealed[2].prev_hash == sealed[1].hash
    for row in sealed:
        assert row.hash == chain_hash(row.prev_hash, row)
        assert row.sealed_at is not None
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_record_id, head.last_seq, head.last_hash) == (rows[2].pk, 3, sealed[2].hash)


def test_seal_continues_the_chain_in_batches():
    # given
    make_rows(5)
    audit_seal(batch_size=2)
    audit_record(actor=None, action="test.later")

    # when
    sealed = audit_seal(batch_size=2)

    # then
    assert sealed == 1
    assert list(AuditRecord.objects.order_by("id").values_list("seal_seq", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert audit_verify().ok is True


def test_a_row_committed_late_with_a_lower_id_is_chained_at_the_end():
    # given row 2 was still in an open transaction when rows 1 and 3 were sealed
    rows = make_rows(3)
    AuditRecord.objects.filter(pk=rows[1].pk).delete()
    audit_seal()
    late = AuditRecord.objects.create(
        id=rows[1].pk,
        created_at=rows[1].created_at,
        actor_label="system",
        action="test.late",
    )

    # when
    sealed = audit_seal()

    # then
    late.refresh_from_db()
    assert (sealed, late.seal_seq) == (1, 3)
    assert audit_verify() == AuditVerification(ok=True, checked_count=3, unsealed_count=0)


def test_verify_passes_on_an_intact_chain_and_reports_unsealed_rows():
    # given
    make_rows(3, actor=User.objects.create_user(username="li.grid"))
    audit_seal()
    audit_record(actor=None, action="test.unsealed")

    # when
    result = audit_verify()

    # then
    assert (result.ok, result.checked_count, result.unsealed_count) == (True, 3, 1)
    assert (result.broken_record_id, result.reason) == (None, "")


def test_verify_of_an_empty_log_passes():
    result = audit_verify()

    assert (result.ok, result.checked_count, result.unsealed_count) == (True, 0, 0)


def test_verify_writes_nothing():
    # given
    make_rows(2)

    # when
    audit_verify()

    # then
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 2
    assert AuditChainHead.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        {"actor_label": "someone.else"},
        {"action": "test.other"},
        {"target_type": "core.dailycounter"},
        {"target_id": "999"},
        {"data": {"n": 1, "text": "改"}},
        {"prev_hash": "f" * 64},
        {"hash": "e" * 64},
        {"sealed_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        {"seal_seq": 1000},
    ],
    ids=lambda change: next(iter(change)),
)
def test_altering_any_field_of_a_sealed_row_breaks_the_chain_at_that_row(change):
    # given
    rows = make_rows(3)
    audit_seal()

    # when
    AuditRecord.objects.filter(pk=rows[1].pk).update(**change)

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id) == (False, rows[1].pk)
    assert result.reason == "The row's content does not match its hash."


def test_altering_the_actor_of_a_sealed_row_breaks_the_chain():
    # given
    rows = make_rows(3, actor=User.objects.create_user(username="li.grid"))
    audit_seal()
    other = User.objects.create_user(username="zhao.other")

    # when
    AuditRecord.objects.filter(pk=rows[0].pk).update(actor=other)

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id) == (False, rows[0].pk)


def test_rewriting_a_row_and_its_hash_breaks_the_link_of_the_next_row():
    # given
    rows = make_rows(3)
    audit_seal()
    forged = AuditRecord.objects.get(pk=rows[1].pk)
    forged.action = "test.forged"
    forged.hash = chain_hash(forged.prev_hash, forged)

    # when
    AuditRecord.objects.filter(pk=forged.pk).update(action=forged.action, hash=forged.hash)

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id) == (False, rows[2].pk)
    assert result.reason == (
        "The link to the previous row does not match: a row before it was deleted or rewritten."
    )


def test_deleting_a_row_breaks_the_chain():
    # given
    rows = make_rows(3)
    audit_seal()

    # when
    AuditRecord.objects.filter(pk=rows[1].pk).delete()

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id) == (False, rows[2].pk)
    assert result.checked_count == 2


def test_deleting_the_last_row_breaks_the_head():
    # given
    rows = make_rows(3)
    audit_seal()

    # when
    AuditRecord.objects.filter(pk=rows[2].pk).delete()

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id) == (False, rows[2].pk)
    assert result.reason == "The chain head does not match the last sealed row: rows were deleted."


def test_deleting_the_head_is_detected():
    # given
    rows = make_rows(2)
    audit_seal()

    # when
    AuditChainHead.objects.all().delete()

    # then
    result = audit_verify()
    assert (result.ok, result.broken_record_id, result.reason) == (
        False,
        rows[0].pk,
        "The chain head is missing.",
    )


def test_publish_head_seals_first_and_is_idempotent_per_day():
    # given
    rows = make_rows(2)

    # when
    first = audit_publish_head(day=dt.date(2026, 3, 2))
    audit_record(actor=None, action="test.after")
    again = audit_publish_head(day=dt.date(2026, 3, 2))

    # then
    assert first is not None and again is not None
    assert again.pk == first.pk
    assert (first.published_on, first.last_record_id) == (dt.date(2026, 3, 2), rows[1].pk)
    assert first.last_hash == AuditRecord.objects.get(pk=rows[1].pk).hash
    assert AuditHeadPublication.objects.count() == 1
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 0  # sealed anyway


def test_publish_head_of_an_empty_log_publishes_nothing():
    assert audit_publish_head() is None
    assert AuditHeadPublication.objects.count() == 0


def test_publish_head_defaults_to_today():
    make_rows(1)

    publication = audit_publish_head()

    assert publication is not None
    assert publication.published_on == timezone.localdate()


def test_a_published_head_that_no_longer_matches_breaks_verification():
    # given a chain rewritten consistently from row 1 on, after its head was published
    rows = make_rows(2)
    audit_publish_head(day=dt.date(2026, 3, 2))
    prev = GENESIS_HASH
    for row in AuditRecord.objects.order_by("seal_seq"):
        if row.pk == rows[0].pk:
            row.action = "test.rewritten"
        row.prev_hash = prev
        row.hash = chain_hash(prev, row)
        row.save()
        prev = row.hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=prev)

    # when
    result = audit_verify()

    # then
    assert (result.ok, result.broken_record_id) == (False, rows[1].pk)
    assert result.reason == "The head published on 2026-03-02 no longer matches."
