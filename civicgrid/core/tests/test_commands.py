from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicgrid.core.models import AuditChainHead, AuditHeadPublication, AuditRecord, CalendarDay
from civicgrid.core.services import audit_record, audit_seal

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_verify_audit_reports_ok_and_unsealed_rows_and_seals_nothing():
    # given
    for n in range(3):
        audit_record(actor=None, action="test.step", data={"n": n})
    audit_seal()
    audit_record(actor=None, action="test.unsealed")

    # when
    output = run("verify_audit")

    # then
    assert output == "Checked 3 sealed rows.\nUnsealed rows (not checked yet): 1.\nOK\n"
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 1


def test_verify_audit_fails_naming_the_broken_row():
    # given
    rows = [audit_record(actor=None, action="test.step", data={"n": n}) for n in range(3)]
    audit_seal()
    AuditRecord.objects.filter(pk=rows[1].pk).update(data={"n": 99})
    out = StringIO()

    # when
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", stdout=out)

    # then
    assert str(caught.value) == (
        f"The audit chain is broken at row {rows[1].pk}: The row's content does not match its hash."
    )
    assert out.getvalue() == "Checked 1 sealed row.\nUnsealed rows (not checked yet): 0.\n"


def test_verify_audit_exits_with_status_1_from_the_command_line(capsys):
    # given a deleted last row
    rows = [audit_record(actor=None, action="test.step") for _n in range(2)]
    audit_seal()
    AuditRecord.objects.filter(pk=rows[1].pk).delete()

    # when: the way manage.py runs it (CommandError → message on stderr, exit status 1)
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as caught:
        ManagementUtility(["manage.py", "verify_audit"]).execute()

    # then
    assert caught.value.code == 1
    assert capsys.readouterr().err == (
        f"CommandError: The audit chain is broken at row {rows[1].pk}: "
        "The chain head does not match the last sealed row: rows were deleted.\n"
    )


def test_seal_audit_seals_and_says_how_many():
    # given
    audit_record(actor=None, action="test.a")
    audit_record(actor=None, action="test.b")

    # when / then
    assert run("seal_audit") == "Sealed 2 rows.\n"
    assert run("seal_audit") == "Sealed 0 rows.\n"
    audit_record(actor=None, action="test.c")
    assert run("seal_audit") == "Sealed 1 row.\n"
    assert AuditRecord.objects.filter(seal_seq__isnull=True).count() == 0


def test_publish_audit_head_publishes_today_once():
    # given
    row = audit_record(actor=None, action="test.a")

    # when
    first = run("publish_audit_head")
    second = run("publish_audit_head")

    # then
    publication = AuditHeadPublication.objects.get()
    head = AuditChainHead.objects.get(pk=1)
    expected = (
        f"Head of {publication.published_on.isoformat()}: row {row.pk}, hash {head.last_hash}.\n"
    )
    assert first == second == expected
    assert publication.last_record_id == row.pk


def test_publish_audit_head_of_an_empty_log():
    assert run("publish_audit_head") == "Nothing to publish: the audit log is empty.\n"
    assert AuditHeadPublication.objects.count() == 0


def test_calendar_override_sets_a_workday_and_a_holiday():
    # when
    first = run("calendar_override", "--date", "2027-02-06", "--workday", "--note", "make-up day")
    second = run("calendar_override", "--date=2027-02-11", "--holiday")

    # then
    assert first == "2027-02-06 is now a working day.\n"
    assert second == "2027-02-11 is now a holiday.\n"
    assert list(CalendarDay.objects.values_list("day", "is_workday", "note")) == [
        (dt.date(2027, 2, 6), True, "make-up day"),
        (dt.date(2027, 2, 11), False, ""),
    ]
    assert list(AuditRecord.objects.values_list("action", "actor_label")) == [
        ("calendar.day_set", "system"),
        ("calendar.day_set", "system"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--date", "2027-02-30", "--workday"],
            "Error: argument --date: “2027-02-30” is not a date of the form YYYY-MM-DD.",
        ),
        (
            ["--date", "6 Feb", "--holiday"],
            "Error: argument --date: “6 Feb” is not a date of the form YYYY-MM-DD.",
        ),
        (["--date", "2027-02-06"], "Error: one of the arguments --workday --holiday is required"),
        (
            ["--date", "2027-02-06", "--workday", "--holiday"],
            "Error: argument --holiday: not allowed with argument --workday",
        ),
        (["--workday"], "Error: the following arguments are required: --date"),
        (
            ["--date", "2027-02-06", "--workday", "--note", "x" * 101],
            "The note must be at most 100 characters long.",
        ),
    ],
)
def test_calendar_override_refuses_bad_arguments_and_writes_nothing(args, message):
    # when
    with pytest.raises(CommandError) as caught:
        call_command("calendar_override", *args, stdout=StringIO(), stderr=StringIO())

    # then
    assert str(caught.value) == message
    assert CalendarDay.objects.count() == 0
    assert AuditRecord.objects.count() == 0
