"""Shared pytest fixtures. App-specific factories live in each app's tests/factories.py.

Browser tests (marked ``@pytest.mark.browser``) drive Debian's Chromium through Playwright's sync
API against pytest-django's ``live_server`` (which serves static files through the staticfiles
finders, as StaticLiveServerTestCase does, because ``django.contrib.staticfiles`` is installed).
A browser test looks like::

    @pytest.mark.browser
    def test_resident_reports_a_case(page, live_server, login_as, assert_offline, screenshot):
        # given
        user = ...  # made with the factories; live_server implies transactional_db
        login_as("resident", "password")
        # when
        page.goto(f"{live_server.url}/cases/new/")
        ...

Chromium is never downloaded (``playwright install`` fails on these machines); `make browser`
installs Debian's package. Without it browser tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request, Route
    from pytest_django.live_server_helper import LiveServer

# Hosts a page may talk to. Anything else is a CDN, a tile server or a tracker: the product must
# work on an offline intranet, so browser tests block such requests and `assert_offline` fails
# on them.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# URLs that never leave the browser.
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})
# Any http(s) URL whose host is not loopback.
REMOTE_URL = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$))https?:")

# Chromium as the machine probe runs it: without the background-networking flags Chromium looks up
# Google's hosts at every start, and this machine's closed network refuses them many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--disable-dev-shm-usage",
]

DEFAULT_CONTEXT_ARGS: dict[str, Any] = {
    "locale": "en-US",
    "viewport": {"width": 1280, "height": 900},
    "timezone_id": "Asia/Shanghai",
}

# Under the rootdir; gitignored.
SCREENSHOT_DIR = Path("test-results") / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _skip_or_fail(reason: str) -> None:
    """Locally a missing browser skips browser tests; in CI it fails them, so CI never goes green
    without having run them."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(f"{reason}; run `make browser` to install it")


# --- test database ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Give each run its own test database on a database server.

    On PostgreSQL, pytest-django names the test database test_<NAME> (test_test for
    DATABASE_URL=.../test), plus _gw0, _gw1 under xdist. Stale databases are not a problem: without
    --reuse-db every run drops and re-creates its test database, so --create-db (which only
    overrides --reuse-db) is not needed. Concurrent runs against one server are: several
    developers and helpers share the machine's PostgreSQL, and one run dropping test_test under
    another fails both. So each run adds its process id (test_test_p1234, test_test_gw0_p1235).
    A killed run leaves its database behind (the next run with the same id drops it; .ci/run
    drops those whose process is gone). SQLite needs none of this: its test database is a
    file per process (see civicgrid.config.settings.test) unless CIVICGRID_TEST_DB names one.
    """
    from django.conf import settings

    for db_settings in settings.DATABASES.values():
        if db_settings["ENGINE"] == "django.db.backends.sqlite3":
            continue
        test_settings = db_settings.setdefault("TEST", {})
        base_name = test_settings.get("NAME") or f"test_{db_settings['NAME']}"
        test_settings["NAME"] = f"{base_name}_p{os.getpid()}"


# --- ordering and reports --------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last: the fast suite fails first, and the Playwright event loop (see
    `browser`) only starts once every other test in the process has run. trylast: after
    pytest-django's own sort (db, transactional, no db), which this stable sort keeps."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # Let fixtures see whether the test body failed (the page fixture screenshots failures).
    setattr(item, f"rep_{report.when}", report)
    return report


# --- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Generator[Browser]:
    """One headless Debian Chromium for the session (per xdist worker)."""
    executable = shutil.which("chromium")
    if executable is None:
        _skip_or_fail("Browser tests need Debian's chromium, which is not on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("Browser tests need the playwright package (pip install -e '.[dev]')")

    # Playwright's sync API keeps its asyncio loop marked as running in this thread between calls,
    # so every later ORM call here (factories, the flush after a transactional test) would raise
    # SynchronousOnlyOperation. The ORM is still used synchronously; only the check is off. It is
    # set here rather than at import so that the check stays on for the tests that run before the
    # first browser test (browser tests are ordered last).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:
        playwright.stop()
        _skip_or_fail(f"Chromium at {executable} did not start: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


class RequestLog:
    """Every URL the pages of one test asked for, and those blocked for leaving this machine."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.blocked: list[str] = []

    def record(self, request: Request) -> None:
        self.urls.append(request.url)

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK_HOSTS

    def offline_violations(self) -> list[str]:
        return [url for url in [*self.urls, *self.blocked] if not self.is_local(url)]


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def browser_context_args(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Options for new browser contexts: en-US, 1280×900, Asia/Shanghai.

    Change them per test with ``@pytest.mark.browser_context(locale="zh-CN")`` (any keyword of
    Playwright's ``Browser.new_context``), per module by overriding this fixture, or per page with
    ``new_page(locale="zh-CN")``.
    """
    args = dict(DEFAULT_CONTEXT_ARGS)
    marker = request.node.get_closest_marker("browser_context")
    if marker is not None:
        args.update(marker.kwargs)
    return args


@pytest.fixture
def new_page(
    browser: Browser,
    browser_context_args: dict[str, Any],
    request_log: RequestLog,
    request: pytest.FixtureRequest,
) -> Generator[Callable[..., Page]]:
    """Make a page in a fresh context (its own cookies: one per user when a test needs two roles).

    Keyword arguments override `browser_context_args`. Requests to hosts other than loopback are
    recorded and aborted, so a forgotten CDN link fails `assert_offline` instead of hanging on DNS.
    """
    contexts: list[BrowserContext] = []
    pages: list[Page] = []

    def block_remote(route: Route) -> None:
        request_log.blocked.append(route.request.url)
        route.abort("internetdisconnected")

    def make(**overrides: Any) -> Page:
        context = browser.new_context(**{**browser_context_args, **overrides})
        context.set_default_timeout(15_000)  # local pages; fail fast, not after 30 s
        context.on("request", request_log.record)
        # Only requests that leave this machine reach Python; local ones are not intercepted.
        context.route(REMOTE_URL, block_remote)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make

    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for index, page in enumerate(pages):
            if not page.is_closed():
                _save_screenshot(
                    page, request.config.rootpath, f"{_node_slug(request.node)}-FAILED-{index}"
                )
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page in a fresh context with `browser_context_args` (en-US unless marked otherwise)."""
    return new_page()


@pytest.fixture
def assert_offline(request_log: RequestLog) -> Iterator[RequestLog]:
    """Fail the test if any page of it asked for a host other than 127.0.0.1/localhost.

    Use it in every browser test: the product must run on an intranet with no internet at all.
    The check runs after the test body; call ``assert_offline.offline_violations()`` to check
    earlier.
    """
    yield request_log
    violations = request_log.offline_violations()
    assert violations == [], f"pages asked for hosts other than loopback: {violations}"


@pytest.fixture
def login_as(page: Page, live_server: LiveServer) -> Callable[..., None]:
    """Log in through the login form at /accounts/login/: ``login_as("ops", "pw")``.

    Pass ``page=`` to log in on another page (from `new_page`). Fails the test when the form
    comes back instead of redirecting.
    """

    def login(username: str, password: str, *, page: Page = page) -> None:
        login_url = f"{live_server.url}/accounts/login/"
        page.goto(login_url)
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        if urlsplit(page.url).path == "/accounts/login/":
            pytest.fail(f"Logging in as {username!r} failed: the login form came back.")

    return login


@pytest.fixture
def force_login(page: Page, live_server: LiveServer) -> Callable[..., None]:
    """Put a logged-in session cookie for ``user`` into the page's context, skipping the form.

    For tests about something other than logging in: ``force_login(user)`` or
    ``force_login(user, page=other_page)``.
    """
    from django.conf import settings
    from django.test import Client

    def login(user: Any, *, page: Page = page) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )

    return login


def _node_slug(node: pytest.Item | Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)[:120]


def _save_screenshot(page: Page, rootdir: Path, stem: str) -> Path:
    directory = rootdir / SCREENSHOT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``screenshot(page, "after-submit")`` writes a full-page PNG to
    test-results/screenshots/<test name>-<name>.png (gitignored) and returns its path."""
    prefix = _node_slug(request.node)
    rootdir = request.config.rootpath

    def take(page: Page, name: str) -> Path:
        return _save_screenshot(page, rootdir, f"{prefix}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}")

    return take
