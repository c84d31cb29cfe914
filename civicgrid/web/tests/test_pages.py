"""The case pages: who may open each, what they show, and how refusals come back."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from civicgrid.cases import services as s
from civicgrid.cases.models import Case, CasePhoto, Follower, Status, Trace
from civicgrid.cases.tests.factories import PASSWORD, build_world, photo, png_bytes, submit, upload
from civicgrid.core.models import AuditRecord

pytestmark = pytest.mark.django_db

STAFF = [
    "grid_worker",
    "operator",
    "shift_leader",
    "dispatcher",
    "supervisor",
    "clean_handler",
    "committee_member",
    "admin",
]


def client_for(world: Any, username: str | None) -> Client:
    client = Client()
    if username is not None:
        client.force_login(world.users[username])
    return client


def snapshot() -> tuple[Any, ...]:
    return (
        list(Case.objects.order_by("pk").values_list("pk", "status", "unit_id", "deadline_at")),
        Trace.objects.count(),
        AuditRecord.objects.count(),
        CasePhoto.objects.count(),
    )


def dispatched(world: Any) -> Case:
    case = submit(world)
    s.case_accept(actor=world.users["operator"], case=case)
    s.case_file(actor=world.users["shift_leader"], case=case)
    s.case_dispatch(actor=world.users["dispatcher"], case=case)
    return Case.objects.get(pk=case.pk)


# --------------------------------------------------------------------------- who sees what


def test_home_for_the_public_lists_recent_cases():
    # given
    world = build_world()
    case = submit(world)

    # when
    response = client_for(world, None).get("/")

    # then
    assert response.status_code == 200
    assert "Problems in our community, fixed in the open" in response.text
    assert case.number in response.text


def test_log_in_to_report_brings_the_resident_back_to_the_report_page():
    # given the public home page's button
    world = build_world()
    client = client_for(world, None)
    home = client.get("/")
    assert 'href="/accounts/login/?next=%2Freport%2F" data-login-to-report' in home.text

    # when the resident follows it and logs in
    login = client.get("/accounts/login/?next=%2Freport%2F")
    assert 'name="next" value="/report/"' in login.text
    response = client.post(
        "/accounts/login/", {"username": "resident", "password": PASSWORD, "next": "/report/"}
    )

    # then the report page is next, not the home page
    assert response.status_code == 302
    assert response["Location"] == "/report/"


@pytest.mark.parametrize(
    ("username", "text"),
    [("resident", "My latest cases"), ("operator", "Work desk: Operator")],
)
def test_home_for_each_role(username, text):
    # given
    world = build_world()
    submit(world)

    # when
    response = client_for(world, username).get("/")

    # then
    assert response.status_code == 200
    assert text in response.text


@pytest.mark.parametrize("username", ["resident", "grid_worker", "operator", "admin"])
def test_report_page_renders_for_reporting_roles(username):
    # given
    world = build_world()

    # when
    response = client_for(world, username).get("/report/")

    # then
    assert response.status_code == 200
    assert 'name="category"' in response.text
    assert 'data-pick="1"' in response.text
    assert "/static/vendor/leaflet/leaflet.js" in response.text


@pytest.mark.parametrize("username", ["shift_leader", "dispatcher", "clean_handler"])
def test_report_page_is_not_found_for_other_roles(username):
    # given
    world = build_world()

    # when
    response = client_for(world, username).get("/report/")

    # then
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/report/", "/my/", "/queue/", "/report/duplicates/"])
def test_pages_for_users_send_the_anonymous_to_login(path):
    # given
    world = build_world()

    # when
    response = client_for(world, None).get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_my_cases_lists_own_and_followed_cases():
    # given
    world = build_world()
    own = submit(world)
    other = submit(world, actor=world.users["resident2"], description="路灯不亮")
    s.case_follow(actor=world.users["resident"], case=other)
    unrelated = submit(world, actor=world.users["resident2"], description="井盖松动")

    # when
    response = client_for(world, "resident").get("/my/")

    # then
    assert response.status_code == 200
    assert own.number in response.text
    assert other.number in response.text
    assert unrelated.number not in response.text
    assert "Reported by me" in response.text
    assert "Following" in response.text


@pytest.mark.parametrize("username", ["operator", "clean_handler"])
def test_my_cases_is_not_found_for_staff(username):
    # given
    world = build_world()

    # when
    response = client_for(world, username).get("/my/")

    # then
    assert response.status_code == 404


@pytest.mark.parametrize("username", STAFF)
def test_queue_renders_for_every_staff_role(username):
    # given
    world = build_world()

    # when
    response = client_for(world, username).get("/queue/")

    # then
    assert response.status_code == 200
    assert "Work queue" in response.text


def test_queue_is_not_found_for_residents():
    # given
    world = build_world()

    # when
    response = client_for(world, "resident").get("/queue/")

    # then
    assert response.status_code == 404


def test_queue_shows_the_light_and_filters_by_it():
    # given
    world = build_world()
    case = submit(world)

    # when
    green = client_for(world, "operator").get("/queue/?light=green")
    red = client_for(world, "operator").get("/queue/?light=red")

    # then
    assert green.status_code == 200
    assert case.number in green.text
    assert 'class="light light-green"' in green.text
    assert "On time" in green.text
    assert case.number not in red.text


@pytest.mark.parametrize(
    ("language", "cell", "other", "unit"),
    [
        ("en", "Grid 5", "网格5", "Clean City Sanitation"),
        ("zh-hans", "网格5", "Grid 5", "洁城环卫公司"),
    ],
)
def test_pages_name_cells_and_units_in_the_readers_language(language, cell, other, unit):
    # given a case in cell 005, dispatched to the cleaning unit (named in both languages)
    world = build_world()
    world.units["clean"].name_en = "Clean City Sanitation"
    world.units["clean"].save(update_fields=["name_en"])
    reported = submit(world)
    case = dispatched(world)
    client = client_for(world, "operator")
    client.cookies["django_language"] = language

    # when
    pages = {
        "queue": client.get("/queue/"),
        "case": client.get(f"/cases/{case.number}/"),
        "public list": client.get("/public/cases/"),
    }

    # then
    assert reported.number in pages["queue"].text
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert cell in response.text, name
        assert other not in response.text, name
    assert f"<dd>{unit}</dd>" in pages["case"].text


def test_supervisor_notifications_read_in_the_readers_language():
    import datetime as dt

    # given an escalation sent while the server ran in Chinese
    world = build_world()
    case = dispatched(world)
    assert case.deadline_at is not None
    s.case_escalate_overdue(now=case.deadline_at + dt.timedelta(minutes=1))
    client = client_for(world, "supervisor")

    # when
    client.cookies["django_language"] = "en"
    english = client.get("/")
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get("/")

    # then
    assert f"Case {case.number} is overdue (Dispatched)." in english.text
    assert f"案件 {case.number} 已超期（已派遣）。" in chinese.text


def test_queue_shows_description_and_address_and_searches_them():
    # given three reports waiting for the operator
    world = build_world()
    gate = submit(world, description="East gate: rubbish for three days", address="3 Garden Rd")
    lamp = submit(world, description="Lamp out by the school", address="School lane")
    other = submit(world, description="Bins overflowing")
    client = client_for(world, "operator")

    # when
    everything = client.get("/queue/")
    by_word = client.get("/queue/?q=rubbish+east")
    by_address = client.get("/queue/?q=school")
    by_number = client.get(f"/queue/?q={lamp.number}")
    nothing = client.get("/queue/?q=volcano")
    spaces = client.get("/queue/?q=+++")

    # then the table shows what each case is about
    assert "East gate: rubbish for three days" in everything.text
    assert "Address: 3 Garden Rd" in everything.text
    assert all(c.number in everything.text for c in (gate, lamp, other))
    # and the search matches every word, anywhere
    assert gate.number in by_word.text and lamp.number not in by_word.text
    assert lamp.number in by_address.text and gate.number not in by_address.text
    assert lamp.number in by_number.text and other.number not in by_number.text
    assert "No case in your queue matches “volcano”." in nothing.text
    assert 'value="rubbish east"' in by_word.text  # the box keeps what was typed
    assert all(c.number in spaces.text for c in (gate, lamp, other))
    # and the light chips keep the search
    assert "?light=green&amp;q=rubbish%20east" in by_word.text


def test_queue_search_is_bounded_and_scoped_to_the_users_queue():
    # given a case outside the operator's queue (already accepted)
    world = build_world()
    accepted = submit(world, description="rubbish at the gate")
    s.case_accept(actor=world.users["operator"], case=accepted)
    client = client_for(world, "operator")

    # when
    response = client.get("/queue/?q=rubbish")
    long_query = client.get("/queue/?q=" + "x" * 5000)

    # then
    assert accepted.number not in response.text
    assert long_query.status_code == 200
    assert 'value="' + "x" * 100 + '"' in long_query.text


def test_cancel_is_a_danger_button_that_asks_first():
    # given
    world = build_world()
    case = submit(world)

    # when
    response = client_for(world, "operator").get(f"/cases/{case.number}/")

    # then the accept button is the primary one, cancel is red and carries its question
    assert '<button type="submit" class="primary">Accept</button>' in response.text
    assert 'class="danger" data-confirm="Cancel case ' + case.number in response.text
    assert 'data-confirm-yes="Yes, cancel the case"' in response.text
    assert "/static/web/confirm.js" in response.text


def test_case_page_shows_personal_data_to_staff_only():
    # given
    world = build_world()
    case = submit(world)

    # when
    staff = client_for(world, "operator").get(f"/cases/{case.number}/")
    other_resident = client_for(world, "resident2").get(f"/cases/{case.number}/")
    public = client_for(world, None).get(f"/cases/{case.number}/")

    # then
    assert staff.status_code == other_resident.status_code == public.status_code == 200
    assert "13800138000" in staff.text
    assert "13800138000" not in other_resident.text
    assert "13800138000" not in public.text
    assert 'data-step="accept"' in staff.text
    assert 'data-step="follow"' in other_resident.text
    assert "data-step=" not in public.text


def test_case_page_of_a_missing_case_is_not_found():
    # given
    world = build_world()

    # when
    response = client_for(world, "operator").get("/cases/209901010001/")

    # then
    assert response.status_code == 404


def test_cancelled_case_is_not_found_for_the_public():
    # given
    world = build_world()
    case = submit(world)
    s.case_cancel(actor=world.users["operator"], case=case, reason="invalid", note="测试")

    # when
    public = client_for(world, None).get(f"/cases/{case.number}/")
    staff = client_for(world, "operator").get(f"/cases/{case.number}/")

    # then
    assert public.status_code == 404
    assert staff.status_code == 200


def test_public_list_rounds_anonymous_coordinates_and_hides_names():
    # given
    world = build_world()
    case = submit(world, is_anonymous=True, lat=39.9245678, lng=116.4545678)

    # when
    response = client_for(world, None).get("/public/cases/")
    page = client_for(world, None).get(f"/cases/{case.number}/")

    # then
    assert response.status_code == 200
    assert case.number in response.text
    assert "39.925, 116.455" in response.text
    assert "39.9245678" not in response.text
    assert "13800138000" not in response.text
    assert 'data-lat="39.925000" data-lng="116.455000"' in page.text


def test_map_cells_are_geojson():
    # given
    world = build_world()

    # when
    response = client_for(world, None).get("/map/cells.geojson")

    # then
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in data["features"]][4] == "110105001001005"
    assert len(data["features"]) == 9


# --------------------------------------------------------------------------- reporting


def test_report_creates_the_case_and_shows_its_number():
    # given
    world = build_world()
    client = client_for(world, "resident")

    # when
    response = client.post(
        "/report/",
        {
            "category": "E0101",
            "description": "楼下垃圾堆了三天",
            "lat": f"{world.inside_lat:.6f}",
            "lng": f"{world.inside_lng:.6f}",
            "urgency": "normal",
            "photos": [upload("a.png"), upload("b.png")],
            "submission_key": "k-1",
        },
        follow=True,
    )

    # then
    case = Case.objects.get()
    assert response.redirect_chain == [(f"/cases/{case.number}/", 302)]
    assert f"Your report is case number {case.number}." in response.text
    assert case.reporter == world.users["resident"]
    assert case.cell is not None
    assert case.cell.code == "110105001001005"
    assert case.photos.count() == 2


def test_report_with_a_non_image_shows_the_error_and_creates_nothing():
    # given
    world = build_world()
    client = client_for(world, "resident")
    before = snapshot()

    # when
    response = client.post(
        "/report/",
        {
            "category": "E0101",
            "description": "楼下垃圾堆了三天",
            "lat": f"{world.inside_lat:.6f}",
            "lng": f"{world.inside_lng:.6f}",
            "urgency": "normal",
            "photos": [upload("evil.png", b"<script>alert(1)</script>", "image/png")],
        },
    )

    # then
    assert response.status_code == 415
    assert "The file evil.png is not a JPEG, PNG or WebP image." in response.text
    assert snapshot() == before


def test_report_outside_the_grid_shows_the_error():
    # given
    world = build_world()
    before = snapshot()

    # when
    response = client_for(world, "resident").post(
        "/report/",
        {
            "category": "E0101",
            "description": "远处的垃圾",
            "lat": str(world.outside_lat),
            "lng": str(world.outside_lng),
            "urgency": "normal",
        },
    )

    # then
    assert response.status_code == 400
    assert "is outside the area this platform serves." in response.text
    assert snapshot() == before


def test_duplicates_partial_offers_to_follow_instead():
    # given
    world = build_world()
    case = submit(world, actor=world.users["resident2"])
    client = client_for(world, "resident")

    # when
    partial = client.get(
        "/report/duplicates/",
        {"category": "E0101", "lat": str(world.inside_lat), "lng": str(world.inside_lng)},
    )
    follow = client.post(f"/cases/{case.number}/follow/", headers={"HX-Request": "true"})

    # then
    assert partial.status_code == 200
    assert case.number in partial.text
    assert "Follow this case instead" in partial.text
    assert follow.status_code == 200
    assert follow["HX-Redirect"] == f"/cases/{case.number}/"
    assert Follower.objects.filter(case=case, user=world.users["resident"]).count() == 1


def test_duplicates_partial_is_empty_without_a_point():
    # given
    world = build_world()
    submit(world)

    # when
    response = client_for(world, "resident").get("/report/duplicates/", {"category": "E0101"})

    # then
    assert response.status_code == 200
    assert response.text.strip() == ""


# --------------------------------------------------------------------------- steps


def test_step_form_runs_the_service_and_redirects_with_a_message():
    # given
    world = build_world()
    case = submit(world)

    # when
    response = client_for(world, "operator").post(
        f"/cases/{case.number}/accept/", {"note": "已电话核实", "urgency": ""}, follow=True
    )

    # then
    assert response.redirect_chain == [(f"/cases/{case.number}/", 302)]
    assert f"Case {case.number}: Accept the report — done." in response.text
    assert Case.objects.get(pk=case.pk).status == Status.ACCEPTED


def test_step_with_a_missing_reason_rerenders_with_the_error_and_changes_nothing():
    # given
    world = build_world()
    case = dispatched(world)
    before = snapshot()

    # when
    response = client_for(world, "clean_handler").post(
        f"/cases/{case.number}/return_request/", {"reason": "  "}
    )

    # then
    assert response.status_code == 400
    assert 'data-step="return_request"' in response.text
    assert "Please fill in reason." in response.text
    assert snapshot() == before


def test_process_with_a_non_image_shows_the_error_and_changes_nothing():
    # given
    world = build_world()
    case = dispatched(world)
    before = snapshot()

    # when
    response = client_for(world, "clean_handler").post(
        f"/cases/{case.number}/process/",
        {"note": "已清理", "photos": [upload("done.txt", b"just text", "text/plain")]},
    )

    # then
    assert response.status_code == 415
    assert "The file done.txt is not a JPEG, PNG or WebP image." in response.text
    assert snapshot() == before


def test_step_by_a_role_without_access_is_not_found():
    # given
    world = build_world()
    case = submit(world)
    before = snapshot()

    # when
    resident = client_for(world, "resident2").post(f"/cases/{case.number}/accept/", {})
    anonymous = client_for(world, None).post(f"/cases/{case.number}/accept/", {})

    # then
    assert resident.status_code == 404
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next=/cases/{case.number}/"
    assert snapshot() == before


def test_step_by_staff_of_the_wrong_role_shows_the_refusal():
    # given
    world = build_world()
    case = submit(world)
    before = snapshot()

    # when
    response = client_for(world, "dispatcher").post(f"/cases/{case.number}/accept/", {})

    # then
    assert response.status_code == 403
    assert "This step is for: Operator." in response.text
    assert snapshot() == before


def test_unknown_step_is_not_found():
    # given
    world = build_world()
    case = submit(world)

    # when
    response = client_for(world, "operator").post(f"/cases/{case.number}/explode/", {})

    # then
    assert response.status_code == 404


# --------------------------------------------------------------------------- photos


def test_photos_are_public_copies_for_residents_and_originals_for_staff():
    # given
    world = build_world()
    case = submit(world, photos=[photo("p.jpg", exif=True)])
    pk = case.photos.get().pk
    url = f"/cases/{case.number}/photos/{pk}/"

    # when
    public = client_for(world, None).get(url)
    staff = client_for(world, "operator").get(url)

    # then
    assert public.status_code == staff.status_code == 200
    public_bytes = public.getvalue()
    staff_bytes = staff.getvalue()
    assert public["Content-Type"] == "image/jpeg"
    assert dict(Image.open(io.BytesIO(public_bytes)).getexif()) == {}
    assert staff_bytes == png_bytes(exif=True)


# --------------------------------------------------------------------------- settings


def test_large_text_toggle_sets_a_cookie_and_the_body_class():
    # given
    world = build_world()
    client = client_for(world, None)

    # when
    response = client.post("/prefs/large-text/", {"next": "/public/cases/"})
    page = client.get("/public/cases/")
    off = client.post("/prefs/large-text/", {"next": "https://evil.example/"})

    # then
    assert response.status_code == 302
    assert response["Location"] == "/public/cases/"
    assert '<body class="large-text"' in page.text
    assert off["Location"] == "/"
    assert off.cookies["civicgrid_large_text"].value == "0"


def test_pages_have_no_inline_scripts_or_remote_assets():
    # given
    world = build_world()
    case = submit(world)

    # when
    pages = [
        client_for(world, "resident").get("/report/").text,
        client_for(world, "operator").get(f"/cases/{case.number}/").text,
    ]

    # then
    for text in pages:
        assert "<script>" not in text
        assert "http://" not in text
        assert "https://" not in text


def test_escalation_shows_on_the_supervisors_home(client):
    # given a dispatched case past its deadline, swept once
    import datetime as dt

    from civicgrid.cases import services as s
    from civicgrid.cases.tests.factories import PASSWORD, build_world, submit

    w = build_world()
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    s.case_dispatch(actor=w.users["dispatcher"], case=case)
    case.refresh_from_db()
    assert case.deadline_at is not None
    assert s.case_escalate_overdue(now=case.deadline_at + dt.timedelta(minutes=1)) == 1
    # when
    client.login(username="supervisor", password=PASSWORD)
    page = client.get("/").content.decode()
    # then
    assert f'<a href="/cases/{case.number}/">Case {case.number} is overdue' in page
