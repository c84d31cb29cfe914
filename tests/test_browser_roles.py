"""The other roles' main paths on real pages: a unit returns a case and the dispatcher sends it
elsewhere with a reason; a grid worker fixes a problem on the spot and the shift leader
confirms it; the supervisor finds an escalated case from the home page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases import services as s
from civicgrid.cases.models import Case, Status
from civicgrid.cases.tests.factories import PASSWORD, build_world, png_bytes, submit

pytestmark = pytest.mark.browser


def _open_as(new_page: Callable[..., Page], login_as: Callable[..., None], username: str) -> Page:
    page = new_page()
    login_as(username, PASSWORD, page=page)
    return page


def _submit_step(page: Page, step: str, fill: dict[str, str] | None = None, **files: Any) -> None:
    form = page.locator(f"form[data-step={step}]")
    expect(form).to_be_visible()
    for selector, value in (fill or {}).items():
        field = form.locator(selector)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        elif field.get_attribute("type") == "radio":
            field.check()
        else:
            field.fill(value)
    for name, payload in files.items():
        form.locator(f"input[name={name}]").set_input_files(files=[payload])
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _png(name: str) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": png_bytes((200, 150), "orange")}


def test_a_unit_returns_a_case_and_the_dispatcher_sends_it_elsewhere(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
) -> None:
    # given a case dispatched to the sanitation contractor
    w = build_world()
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    s.case_dispatch(actor=w.users["dispatcher"], case=case)
    url = f"{live_server.url}/cases/{case.number}/"

    # when the unit says "not ours" with a reason
    handler = _open_as(new_page, login_as, "clean_handler")
    handler.goto(url)
    _submit_step(handler, "return_request", {"textarea[name=reason]": "路灯不归环卫管"})
    # and the dispatcher approves, then dispatches to the lights contractor with a reason
    dispatcher = _open_as(new_page, login_as, "dispatcher")
    dispatcher.goto(f"{live_server.url}/queue/")
    expect(dispatcher.locator("table.queue")).to_contain_text(case.number)
    dispatcher.goto(url)
    _submit_step(dispatcher, "return_decide", {"input[value=approve]": "on"})
    expect(dispatcher.locator("[data-status]")).to_have_attribute("data-status", "filed")
    _submit_step(
        dispatcher,
        "dispatch",
        {"select[name=unit]": "lights-co", "textarea[name=reason]": "路灯公司负责"},
    )

    # then
    expect(dispatcher.locator("[data-status]")).to_have_attribute("data-status", "dispatched")
    expect(dispatcher.locator(".timeline")).to_contain_text("Return approved")
    case.refresh_from_db()
    assert case.unit == w.units["lights"]
    assert case.transfer_count == 1
    assert case.return_count == 1


def test_a_grid_worker_fixes_on_the_spot_and_the_leader_confirms(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
) -> None:
    w = build_world()
    case = submit(w, actor=w.users["grid_worker"], source="patrol")
    url = f"{live_server.url}/cases/{case.number}/"

    worker = _open_as(new_page, login_as, "grid_worker")
    worker.goto(url)
    _submit_step(
        worker,
        "self_handle",
        {"textarea[name=note]": "现场清理完毕"},
        before=_png("before.png"),
        after=_png("after.png"),
    )
    expect(worker.locator("[data-status]")).to_have_attribute("data-status", "closed")

    leader = _open_as(new_page, login_as, "shift_leader")
    leader.goto(f"{live_server.url}/queue/")
    expect(leader.locator("table.queue")).to_contain_text(case.number)
    leader.goto(url)
    _submit_step(leader, "self_handle_review", {"input[value=approve]": "on"})
    expect(leader.locator(".timeline")).to_contain_text("On-the-spot handling confirmed")
    assert Case.objects.get(pk=case.pk).status == Status.CLOSED


def test_the_supervisor_finds_an_escalated_case_from_the_home_page(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
) -> None:
    w = build_world()
    case = submit(w)
    s.case_accept(actor=w.users["operator"], case=case)
    case.refresh_from_db()
    assert case.deadline_at is not None
    s.case_escalate_overdue(now=case.deadline_at + dt.timedelta(minutes=5))

    supervisor = _open_as(new_page, login_as, "supervisor")
    supervisor.goto(f"{live_server.url}/")
    link = supervisor.locator(".notifications a", has_text=case.number)
    expect(link).to_be_visible()
    with supervisor.expect_navigation():
        link.click()
    expect(supervisor.locator(".timeline")).to_contain_text("Overdue, escalated to the supervisor")
