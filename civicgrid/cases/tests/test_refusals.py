"""Every refused step gives a clear error and changes nothing: no state, trace or audit row."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from civicgrid.cases import services as s
from civicgrid.cases.access import Intent, access_case
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Case, CasePhoto, Status, Trace
from civicgrid.cases.photos import check_photo
from civicgrid.core.models import AuditRecord

from .factories import build_world, photo, png_bytes, submit

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[Any, ...]:
    return (
        list(Case.objects.order_by("pk").values_list("pk", "status", "unit_id", "deadline_at")),
        Trace.objects.count(),
        AuditRecord.objects.count(),
        CasePhoto.objects.count(),
    )


def assert_refused(call: Callable[[], Any], code: str, field: str | None = None) -> CaseError:
    before = snapshot()
    with pytest.raises(CaseError) as err:
        call()
    assert err.value.code == code
    if field is not None:
        assert err.value.field == field
    assert err.value.message
    assert snapshot() == before
    return err.value


def filed(w):
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    return case


def dispatched(w):
    case = filed(w)
    s.case_dispatch(actor=w.users["dispatcher"], case=case)
    return case


@pytest.mark.parametrize(
    "username",
    ["resident", "grid_worker", "dispatcher", "clean_handler", "committee_member"],
)
def test_accept_by_a_wrong_role(username):
    w = build_world()
    case = submit(w)
    err = assert_refused(
        lambda: s.case_accept(actor=w.users[username], case=case), "cases.wrong_role"
    )
    assert err.http_status == 403


def test_accept_by_an_operator_of_another_community():
    w = build_world()
    case = submit(w)
    assert_refused(
        lambda: s.case_accept(actor=w.users["other_operator"], case=case), "cases.wrong_role"
    )


def test_processing_by_another_unit():
    w = build_world()
    case = dispatched(w)
    assert_refused(
        lambda: s.case_process(
            actor=w.users["lights_handler"], case=case, note="x", photos=[photo()]
        ),
        "cases.wrong_role",
    )


def test_wrong_state_steps():
    w = build_world()
    case = submit(w)
    err = assert_refused(
        lambda: s.case_file(actor=w.users["shift_leader"], case=case), "cases.wrong_state"
    )
    assert err.http_status == 409
    assert_refused(
        lambda: s.case_dispatch(actor=w.users["dispatcher"], case=case), "cases.wrong_state"
    )
    assert_refused(
        lambda: s.case_check_start(actor=w.users["grid_worker"], case=case), "cases.wrong_state"
    )
    assert_refused(
        lambda: s.case_rate(
            actor=w.users["resident"], case=case, satisfaction="satisfied", resolved=True
        ),
        "cases.wrong_state",
    )


def test_accepting_twice_is_refused_the_second_time():
    w = build_world()
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    assert_refused(lambda: s.case_accept(actor=w.users["operator"], case=case), "cases.wrong_state")


def test_missing_reasons_and_photos():
    w = build_world()
    case = dispatched(w)
    h = w.users["clean_handler"]
    assert_refused(
        lambda: s.case_return_request(actor=h, case=case, reason="  "),
        "cases.reason_required",
        "reason",
    )
    assert_refused(
        lambda: s.case_process(actor=h, case=case, note="done", photos=[]),
        "cases.photo_required",
        "photos",
    )
    assert_refused(
        lambda: s.case_process(actor=h, case=case, note="", photos=[photo()]),
        "cases.note_required",
        "note",
    )
    assert_refused(
        lambda: s.case_transfer(
            actor=w.users["dispatcher"], case=case, unit="dept-city", reason=""
        ),
        "cases.reason_required",
        "reason",
    )
    other = submit(w)
    assert_refused(
        lambda: s.case_cancel(actor=w.users["operator"], case=other, reason=""),
        "cases.reason_required",
        "reason",
    )
    assert_refused(
        lambda: s.case_cancel(actor=w.users["operator"], case=other, reason="duplicate"),
        "cases.reason_required",
        "duplicate_of",
    )


def test_failed_check_needs_a_reason():
    w = build_world()
    case = dispatched(w)
    s.case_process(actor=w.users["clean_handler"], case=case, note="done", photos=[photo()])
    s.case_check_start(actor=w.users["grid_worker"], case=case)
    assert_refused(
        lambda: s.case_check_finish(actor=w.users["grid_worker"], case=case, passed=False),
        "cases.reason_required",
        "reason",
    )


def test_decision_without_a_pending_request():
    w = build_world()
    case = dispatched(w)
    assert_refused(
        lambda: s.case_extension_decide(actor=w.users["supervisor"], case=case, approve=True),
        "cases.no_pending_request",
    )


def test_self_handle_needs_before_and_after_photos():
    w = build_world()
    case = submit(w)
    assert_refused(
        lambda: s.case_self_handle(
            actor=w.users["grid_worker"], case=case, note="x", before=[photo()], after=[]
        ),
        "cases.photo_required",
        "after",
    )


# --- bad input at submission: nothing saved ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"category": "NOPE"}, "cases.unknown_category", "category"),
        ({"category": "E01"}, "cases.unknown_category", "category"),  # not a leaf
        ({"description": "x" * 4001}, "cases.bad_input", "description"),
        ({"description": "   "}, "cases.note_required", "description"),
        ({"lat": 91, "lng": 116.4}, "cases.bad_location", "lat"),
        ({"lat": 39.9, "lng": -181}, "cases.bad_location", "lng"),
        ({"lat": "abc", "lng": 116.4}, "cases.bad_location", "lat"),
        ({"lat": float("nan"), "lng": 116.4}, "cases.bad_location", "lat"),
        ({"lat": 39.9, "lng": None}, "cases.bad_location", "lng"),
        ({"lat": None, "lng": None, "address": ""}, "cases.bad_location", "location"),
        ({"lat": 38.0, "lng": 115.0}, "cases.outside_grid", "location"),
        ({"urgency": "whenever"}, "cases.bad_input", "urgency"),
        ({"address": "路" * 201, "lat": None, "lng": None}, "cases.bad_input", "address"),
    ],
)
def test_bad_submissions_are_refused(overrides, code, field):
    w = build_world()
    assert_refused(lambda: submit(w, **overrides), code, field)


def test_an_address_without_a_point_is_accepted_without_a_cell():
    w = build_world()
    case = submit(w, lat=None, lng=None, address="望京西路 12 号")
    assert case.cell is None
    assert case.district_code == "110105"


def test_a_non_image_upload_is_refused():
    with pytest.raises(CaseError) as err:
        check_photo(io.BytesIO(b"%PDF-1.4 not an image"), name="doc.pdf")
    assert err.value.code == "cases.bad_photo"
    assert err.value.http_status == 415


def test_an_oversized_upload_is_refused(settings):
    settings.CIVICGRID_PHOTO_MAX_BYTES = 1000
    with pytest.raises(CaseError) as err:
        check_photo(io.BytesIO(png_bytes((400, 400), "blue") + b"\0" * 2000), name="big.png")
    assert err.value.code == "cases.photo_too_large"
    assert err.value.http_status == 413


def test_the_public_copy_has_no_exif():
    from PIL import Image

    checked = check_photo(io.BytesIO(png_bytes(exif=True)), name="cam.jpg")
    assert b"CameraMaker" in checked.original
    assert b"CameraMaker" not in checked.public
    with Image.open(io.BytesIO(checked.public)) as img:
        assert not img.getexif()


def test_idempotent_submission_returns_the_same_case():
    w = build_world()
    a = s.case_submit(
        actor=w.users["resident"],
        category="E0101",
        description="d",
        lat=w.inside_lat,
        lng=w.inside_lng,
        submission_key="k-1",
    )
    b = s.case_submit(
        actor=w.users["resident"],
        category="E0101",
        description="d",
        lat=w.inside_lat,
        lng=w.inside_lng,
        submission_key="k-1",
    )
    assert a.created and not b.created
    assert a.case.pk == b.case.pk
    assert Case.objects.count() == 1
    assert Case.objects.get().status == Status.REPORTED


@pytest.mark.parametrize("ref", ["¹", "٣", "１２", "12a", "", " ", "1" * 17])
def test_case_references_that_are_not_ascii_digits_are_not_found(ref):
    # given
    w = build_world()
    submit(w)
    # when / then: the same not-found as a missing case, never a crash
    with pytest.raises(CaseError) as err:
        access_case(actor=w.users["admin"], case_ref=ref, intent=Intent.VIEW)
    assert err.value.code == CaseError.Code.NOT_FOUND


def test_cases_of_internal_categories_are_not_public():
    # given a case filed under a category residents may not report under
    w = build_world()
    case = submit(w, actor=w.users["operator"], source="hotline")
    Category = type(case.category)
    Category.objects.filter(pk=case.category_id).update(is_public=False)
    # when / then: the public and a resident do not find it; staff in scope do
    for viewer in (None, w.users["resident2"]):
        with pytest.raises(CaseError) as err:
            access_case(actor=viewer, case_ref=case.number, intent=Intent.VIEW_PUBLIC)
        assert err.value.code == CaseError.Code.NOT_FOUND
    found = access_case(actor=w.users["operator"], case_ref=case.number, intent=Intent.VIEW_PUBLIC)
    assert found.pk == case.pk
