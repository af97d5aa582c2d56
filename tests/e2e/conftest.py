"""Browser journeys: a real Chromium (Playwright, sync API) against a real ``identity serve``.

Per test process (each xdist worker has its own): one server, started the way an operator starts
it (``identity db upgrade``, then ``identity serve``) on an empty database of the run's backend,
and one headless Chromium; for the single sign-on journeys also ``identity demo rp`` (the demo's
three channels, registered on that server for a free port). Every test gets fresh browser
contexts (no cookies carried over) and its own email addresses, so tests share the server without
seeing each other's accounts.

Waiting is event-driven, never ``time.sleep``: start-up reads the server's log line by line until
uvicorn says it listens (after "Application startup complete"), then asks ``/readyz``; pages rely
on Playwright's auto-waiting and ``expect``.
Each step's full-page screenshot is saved as ``artifacts/e2e/<backend>/<test>-<nn>-<step>.png``
for a human to look at. A failing test's report carries what the server (and the demo relying
party) logged meanwhile.

Needs Debian's Chromium (``apt-get install -y chromium``), or ``IDENTITY_TEST_CHROMIUM`` naming
another binary; without one the e2e tests fail loudly instead of skipping. ``playwright install``
is never needed (nor allowed: its downloads are blocked on CI machines).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from identity.audit.refs import Actor
from identity.runtime import Runtime
from tests.e2e.harness import (
    AXE_CHECK,
    AXE_DONE,
    AXE_MARK,
    BROWSER_LOCALES,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEVICES,
    DemoRp,
    Server,
    ServerFailed,
    axe_source,
    describe_violations,
    start_demo_rp,
    start_server,
    unique_email,
)
from tests.support.server import ServerProcess

E2E_DIR = Path(__file__).resolve().parent
ACTION_TIMEOUT_MS = 10_000  # Playwright's default of 30 s only makes failures slow
AXE_TIMEOUT_MS = 5_000  # the last check of a page waits no longer (evaluate has no timeout)
# name -> process, the first line of its output during the test
WATCHED = pytest.StashKey[dict[str, tuple[ServerProcess, int]]]()
# The processes a journey may use, by fixture name, and how their logs are titled.
PROCESSES = {"identity_server": "identity serve", "demo_rp": "identity demo rp"}
CALL_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing journey's report carries what the server logged while it ran."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    if report.failed:
        for name, (process, start) in item.stash.get(WATCHED, {}).items():
            output = process.output(since=start)
            report.sections.append((f"{PROCESSES[name]} log", output or "(nothing logged)"))
    return report


# -- the server ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def identity_server(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``identity serve`` on a free port of this test process, migrated and ready."""
    try:
        server = start_server(new_database("identity_e2e"), tmp_path_factory.mktemp("e2e"))
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    exited_early = server.process.returncode
    server.process.stop()
    if exited_early is not None:
        print(f"identity serve exited on its own ({exited_early}):\n{server.process.output()}")


@pytest.fixture(scope="session")
def demo_rp(
    identity_server: Server, server_runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRp]:
    """``identity demo rp`` on a free port of this test process, its three channels
    registered on the server (``identity.demo.DEMO_CLIENTS`` on that port)."""
    try:
        rp = start_demo_rp(identity_server, server_runtime, tmp_path_factory.mktemp("rp"))
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    yield rp
    exited_early = rp.process.returncode
    rp.process.stop()
    if exited_early is not None:
        print(f"identity demo rp exited on its own ({exited_early}):\n{rp.process.output()}")


@pytest.fixture(autouse=True)
def _server_stays_healthy(
    request: pytest.FixtureRequest, identity_server: Server
) -> Iterator[None]:
    """Fail a journey when the server (or the demo relying party, for the journeys that use
    it) crashed or logged a traceback meanwhile, even if the pages happened to look right."""
    processes = {"identity_server": identity_server.process}
    if "demo_rp" in request.fixturenames:  # session-scoped: up already, or starting now
        processes["demo_rp"] = request.getfixturevalue("demo_rp").process
    watched = {name: (p, p.output_lines()) for name, p in processes.items()}
    request.node.stash[WATCHED] = watched
    yield
    for name, (process, start) in watched.items():
        title, output = PROCESSES[name], process.output(since=start)
        if not process.alive():
            pytest.fail(f"{title} exited during the test:\n{output}", pytrace=False)
        if "Traceback" in output:
            pytest.fail(f"{title} logged an error during the test:\n{output}", pytrace=False)


# -- accounts that exist before a journey starts ------------------------------------------


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    name: str
    lang: str


@pytest.fixture(scope="session")
def server_runtime(identity_server: Server) -> Iterator[Runtime]:
    """The service in-process, on the server's database and mail folder."""
    runtime = Runtime.build(identity_server.settings)
    yield runtime
    runtime.close()


@pytest.fixture
def confirmed_account(server_runtime: Runtime) -> Callable[..., Account]:
    """Factory: a customer who signed up and confirmed the address earlier."""

    def make(lang: str, *, name: str = "Test Shopper", password: str | None = None) -> Account:
        account = Account(
            email=unique_email("given"),
            password=password or f"old pass {uuid.uuid4().hex[:8]}",
            name=name,
            lang=lang,
        )
        server_runtime.accounts.create(
            email=account.email,
            password=account.password,
            name=account.name,
            locale=lang,
            verified=True,
            actor=Actor.operator("test"),
        )
        return account

    return make


# -- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install -y chromium, or set "
            "IDENTITY_TEST_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe() -> str:
    """axe-core and the runner every journey's pages get (see ``harness.AXE_RUNNER``)."""
    try:
        return axe_source()
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclass(frozen=True)
class Artifacts:
    """Where this test's pictures go: ``artifacts/e2e/<backend>/<test>-<what>.png``."""

    directory: Path
    test: str

    def path(self, what: str) -> Path:
        return self.directory / f"{self.test}-{what}.png"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, backend: str) -> Artifacts:
    directory = request.config.rootpath / "artifacts" / "e2e" / backend
    directory.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    # Last run's pictures of this test go, so a renamed step leaves nothing stale behind.
    for pattern in (f"{test}-[0-9][0-9]-*.png", f"{test}-failed-*.png"):
        for stale in directory.glob(pattern):
            stale.unlink()
    return Artifacts(directory, test)


@pytest.fixture
def open_page(
    request: pytest.FixtureRequest,
    browser: Browser,
    identity_server: Server,
    artifacts: Artifacts,
    axe: str,
) -> Iterator[Callable[..., Page]]:
    """Factory: a page in a fresh browser context (no cookies) whose browser prefers
    ``lang``, on a ``device`` ("phone" or "desktop"), optionally with JavaScript off and with
    ``headers`` sent on every request (``{"Sec-GPC": "1"}``: a browser with Global Privacy
    Control on).

    When the test fails, each open page is saved as ``<test>-failed-<n>.png``. Console errors
    (a Content-Security-Policy violation, say) and uncaught script errors fail the test at
    teardown, and so do accessibility violations: axe-core checks every HTML page a journey
    loads (with JavaScript on), and once more each page left open at the end; a critical or
    serious violation fails the test, listed."""
    contexts: list[BrowserContext] = []
    scripted: list[BrowserContext] = []  # with JavaScript on: the ones axe can check
    console_errors: list[str] = []
    violations: dict[tuple[str, str], dict[str, Any]] = {}  # (page, rule) -> violation

    def report(text: str) -> None:
        url, found = json.loads(text.removeprefix(AXE_MARK))
        for violation in found:
            violations.setdefault((url.split("?")[0], violation["id"]), violation)

    def collect(message: ConsoleMessage) -> None:
        # Chromium reports every non-2xx document as a failed "resource": that is expected
        # here (a refused login answers 401).
        if message.type == "info" and message.text.startswith(AXE_MARK):
            report(message.text)
        elif message.type == "error" and not message.text.startswith("Failed to load resource"):
            console_errors.append(f"{message.location.get('url')}: {message.text}")

    def uncaught(page: Page) -> Callable[[PlaywrightError], None]:
        # A script's uncaught exception is a "pageerror", not a console message.
        return lambda error: console_errors.append(f"{page.url}: uncaught {error}")

    def open_page(
        lang: str,
        device: str = "phone",
        *,
        javascript: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Page:
        context = browser.new_context(
            base_url=identity_server.url,
            locale=BROWSER_LOCALES[lang],
            java_script_enabled=javascript,
            extra_http_headers=headers,
            **DEVICES[device],
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.add_init_script(script=axe)
        contexts.append(context)
        if javascript:
            scripted.append(context)
        page = context.new_page()
        page.on("console", collect)
        page.on("pageerror", uncaught(page))
        return page

    yield open_page
    failed = request.node.stash.get(CALL_FAILED, False)
    pages = [page for context in contexts for page in context.pages]
    for number, page in enumerate(pages if failed else [], start=1):
        try:
            page.screenshot(path=artifacts.path(f"failed-{number}"), full_page=True)
        except PlaywrightError as exc:  # a crashed page: the report says why
            print(f"no screenshot of page {number}: {exc}")
    # A page left before its check finished is checked here. Without JavaScript no timer of
    # the page fires, so axe, which waits on them, would only run into its timeout.
    for page in [p for c in scripted for p in c.pages] if not failed else []:
        _check_last_page(page)
    for context in contexts:
        context.close()
    if console_errors:
        pytest.fail("browser console errors:\n" + "\n".join(console_errors), pytrace=False)
    if violations:
        pytest.fail(
            "accessibility violations (axe-core):\n" + describe_violations(violations),
            pytrace=False,
        )


def _check_last_page(page: Page) -> None:
    """Run the page's axe once more and wait for it (its report arrives as a console message).

    In front first: a page in the background gets no animation frames, which axe waits for.
    The check is started without awaiting it and then waited for with Playwright's own
    timeout: an awaited promise that never settles (a page stuck mid-navigation) would hang
    the test, as ``evaluate`` has no timeout of its own."""
    with contextlib.suppress(PlaywrightError):  # closed, crashed or too slow: reported elsewhere
        page.bring_to_front()
        page.evaluate(
            f"""() => {{ window.{AXE_DONE} = false;
                const check = window.{AXE_CHECK} ? window.{AXE_CHECK}() : Promise.resolve();
                check.then(() => {{ window.{AXE_DONE} = true; }}); }}"""
        )
        page.wait_for_function(f"() => window.{AXE_DONE} === true", timeout=AXE_TIMEOUT_MS)


@pytest.fixture
def screenshot(artifacts: Artifacts) -> Callable[[Page, str], Path]:
    """``screenshot(page, "step-name")``: ``<test>-<nn>-<step-name>.png``, the full page."""
    counter = itertools.count(1)

    def take(page: Page, step: str) -> Path:
        path = artifacts.path(f"{next(counter):02d}-{step}")
        page.screenshot(path=path, full_page=True)
        return path

    return take
