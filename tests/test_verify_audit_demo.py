"""`verify_audit` passes on the demo community and fails, naming the row, once any audit row
is altered."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def run_verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo() -> None:
    call_command("demo_load", "--cases", "40", stdout=io.StringIO())


def test_verify_audit_passes_on_the_demo_data(demo):
    # given the demo community (its loader seals the chain)
    sealed = AuditRecord.objects.exclude(seal_seq=None).count()
    # when
    output = run_verify()
    # then
    assert sealed == AuditRecord.objects.count()
    assert sealed > 40 * 5  # every case writes an audit row per step
    assert "OK" in output


@pytest.mark.parametrize(("field", "value"), [("action", "case.accept"), ("data", {"x": 1})])
def test_verify_audit_names_the_altered_row(demo, field, value):
    # given an audit row in the middle of the chain rewritten behind the log's back (the first
    # from the middle on whose value really changes: the demo's rows depend on its end time)
    rows = list(AuditRecord.objects.order_by("id").values_list("id", field))
    victim = next(pk for pk, current in rows[len(rows) // 2 :] if current != value)
    AuditRecord.objects.filter(pk=victim).update(**{field: value})
    # when / then
    with pytest.raises(CommandError) as err:
        run_verify()
    assert f"The audit chain is broken at row {victim}:" in str(err.value)


def test_verify_audit_notices_a_deleted_row(demo):
    ids = list(AuditRecord.objects.order_by("id").values_list("id", flat=True))
    AuditRecord.objects.filter(pk=ids[10]).delete()
    with pytest.raises(CommandError):
        run_verify()
