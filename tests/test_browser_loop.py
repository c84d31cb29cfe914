"""One case round the whole closed loop on the real pages, one browser context per role."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect
from pytest_django.live_server_helper import LiveServer

from civicgrid.cases.tests.factories import PASSWORD, build_world, png_bytes

pytestmark = pytest.mark.browser

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

LOOP_LABELS = [
    "Reported",
    "Accepted",
    "Filed",
    "Dispatched",
    "Processing started",
    "Processed",
    "Check started",
    "Check passed, closed",
    "Rated",
]


def _png(name: str, color: str) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": png_bytes((320, 240), color)}


# Console errors of every page (CSP violations, script errors): the pages must have none.
CONSOLE_ERRORS: list[str] = []


def _watch_console(page: Page) -> Page:
    page.on("console", lambda msg: CONSOLE_ERRORS.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: CONSOLE_ERRORS.append(str(exc)))
    return page


def _open_as(
    new_page: Callable[..., Page], login_as: Callable[..., None], username: str, **context: Any
) -> Page:
    page = _watch_console(new_page(**context))
    login_as(username, PASSWORD, page=page)
    return page


def _step(page: Page, step: str, *, note: str = "", photo: FilePayload | None = None) -> None:
    """Fill and submit the step's form on the case page, then wait for the page to come back."""
    form = page.locator(f"form[data-step={step}]")
    expect(form).to_be_visible()
    if note:
        form.locator("textarea[name=note]").fill(note)
    if photo is not None:
        form.locator("input[name=photos]").set_input_files(files=[photo])
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _report_on_map(page: Page, live_server: LiveServer, description: str) -> str:
    """Fill the report form, click the centre of the map, attach a photo, send; returns the
    case number from the case page the form redirects to."""
    page.goto(f"{live_server.url}/report/")
    page.select_option("select[name=category]", "E0101")
    page.fill("textarea[name=description]", description)
    expect(page.locator("#report-map[data-ready='1']")).to_have_count(1)
    page.locator("#report-map").click()  # the map fits the 3×3 grid: its centre is cell 005
    expect(page.locator("[data-map-cell]")).to_contain_text("110105001001005")
    page.set_input_files("input[name=photos]", files=[_png("rubbish.png", "green")])
    return ""


def _send_report(page: Page) -> str:
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()
    match = re.search(r"/cases/(\d{12})/$", page.url)
    assert match is not None, page.url
    return match.group(1)


def test_one_case_goes_round_the_whole_loop(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    world = build_world()
    CONSOLE_ERRORS.clear()
    resident = _open_as(new_page, login_as, "resident")

    # when: the resident reports on the map with a photo
    _report_on_map(resident, live_server, "Rubbish bags piled at the east gate.")
    lat = float(resident.input_value("input[name=lat]"))
    lng = float(resident.input_value("input[name=lng]"))
    shots = [screenshot(resident, "01-report")]
    number = _send_report(resident)
    case_url = f"{live_server.url}/cases/{number}/"

    # then
    expect(resident.locator(".messages")).to_contain_text(number)
    expect(resident.locator("[data-status]")).to_have_attribute("data-status", "reported")
    assert abs(lat - world.inside_lat) < 0.0015
    assert abs(lng - world.inside_lng) < 0.0015

    # when: operator accepts, from the queue
    operator = _open_as(new_page, login_as, "operator")
    operator.goto(f"{live_server.url}/queue/")
    expect(operator.locator("table.queue")).to_contain_text(number)
    expect(operator.locator("table.queue .light").first).to_contain_text("On time")
    shots.append(screenshot(operator, "02-operator-queue"))
    operator.click(f"text={number}")
    _step(operator, "accept", note="Confirmed by phone.")
    expect(operator.locator("[data-status]")).to_have_attribute("data-status", "accepted")

    # when: shift leader files, dispatcher dispatches along the routing table
    leader = _open_as(new_page, login_as, "shift_leader")
    leader.goto(case_url)
    _step(leader, "file")
    expect(leader.locator("[data-status]")).to_have_attribute("data-status", "filed")
    dispatcher = _open_as(new_page, login_as, "dispatcher")
    dispatcher.goto(case_url)
    _step(dispatcher, "dispatch")
    expect(dispatcher.locator("[data-status]")).to_have_attribute("data-status", "dispatched")

    # when: the contractor starts and reports the work with a photo
    handler = _open_as(new_page, login_as, "clean_handler")
    handler.goto(f"{live_server.url}/queue/")
    expect(handler.locator("table.queue")).to_contain_text(number)
    handler.goto(case_url)
    _step(handler, "start")
    expect(handler.locator("[data-status]")).to_have_attribute("data-status", "processing")
    _step(handler, "process", note="Cleared and the area swept.", photo=_png("done.png", "blue"))
    expect(handler.locator("[data-status]")).to_have_attribute("data-status", "processed")

    # when: the grid worker checks on site and passes it
    worker = _open_as(new_page, login_as, "grid_worker")
    worker.goto(case_url)
    _step(worker, "check_start")
    expect(worker.locator("[data-status]")).to_have_attribute("data-status", "checking")
    _step(worker, "check_finish", note="Clean now.")
    expect(worker.locator("[data-status]")).to_have_attribute("data-status", "closed")

    # when: the resident rates it
    resident.goto(case_url)
    form = resident.locator("form[data-step=rate]")
    form.locator("select[name=satisfaction]").select_option("very_satisfied")
    with resident.expect_navigation():
        form.locator("button[type=submit]").click()

    # then: the timeline shows every step in order, and the photos are there
    expect(resident.locator("[data-status]")).to_have_attribute("data-status", "evaluated")
    assert resident.locator("ol.timeline .action").all_inner_texts() == LOOP_LABELS
    expect(resident.locator(".photos img")).to_have_count(2)
    assert resident.locator(".personal").count() == 0
    shots.append(screenshot(resident, "03-case-page-resident"))
    worker.goto(case_url)
    # a grid worker sees who took each step, but not the reporter's phone (operators call back)
    expect(worker.locator("ol.timeline")).to_be_visible()
    assert worker.locator(".personal").count() == 0
    assert "13800138000" not in worker.content()
    assert "Resident · resident" not in worker.locator("ol.timeline").inner_text()
    shots.append(screenshot(worker, "04-case-page-staff"))
    worker.goto(f"{live_server.url}/public/cases/")
    expect(worker.locator("table.cases")).to_contain_text(number)
    shots.append(screenshot(worker, "05-public-cases"))
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CIVICGRID_UPDATE_SCREENSHOTS"):  # refresh the README's pictures
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot, name in zip(
            shots,
            ["report.png", "queue.png", "case-resident.png", "case-staff.png", "public-cases.png"],
            strict=True,
        ):
            shutil.copyfile(shot, DOCS_SCREENSHOTS / name)
    assert CONSOLE_ERRORS == []


@pytest.mark.browser_context(locale="zh-CN")
def test_chinese_interface_reports_a_case(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[..., None],
    assert_offline: Any,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # given
    build_world()

    # when: a zh-CN browser opens the login page
    page.goto(f"{live_server.url}/accounts/login/")

    # then: Django's own strings come in Chinese
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("label[for=id_username]")).to_contain_text("用户名")
    expect(page.locator("label[for=id_password]")).to_contain_text("密码")

    # when: the resident logs in and reports through the Chinese interface
    login_as("resident", PASSWORD)
    _report_on_map(page, live_server, "东门口堆了很多垃圾袋。")
    screenshot(page, "zh-report")
    number = _send_report(page)

    # then
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".messages")).to_contain_text(number)
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "reported")


def test_language_switcher_and_large_text(
    page: Page, live_server: LiveServer, assert_offline: Any
) -> None:
    # given
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # when
    with page.expect_navigation():
        page.click("input[data-language=zh-hans]")
    with page.expect_navigation():
        page.click("input[data-large-text]")

    # then
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("label[for=id_username]")).to_contain_text("用户名")
    expect(page.locator("body")).to_have_class("large-text")
