"""The web UI in a real browser (Debian's chromium) against a real `scheduler up`.

One scheduler for the module, with loopback callers let in as admin (as `make up` does); the
viewer signs in with a key of its own. Pages must change without a reload: every test that
watches a page marks its window first and checks the mark is still there at the end.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SchedulerProcess, unique

UNDER_CI = os.environ.get("CI", "").lower() == "true"
# Under CI a missing browser is a broken build (.ci/run installs it), not a skip.
playwright_api = (
    importlib.import_module("playwright.sync_api")
    if UNDER_CI
    else pytest.importorskip("playwright.sync_api")
)
CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_MS = 15_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not UNDER_CI and not CHROMIUM.exists(),
        reason="needs /usr/bin/chromium (apt install chromium)",
    ),
]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pages are photographed: the README's own files only when asked, so that a test
    run leaves the tree as it was (SCHEDULER_UPDATE_SCREENSHOTS=1)."""
    if os.environ.get("SCHEDULER_UPDATE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, scheduler: SchedulerProcess) -> Iterator[object]:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=scheduler.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def create_task(page: object, name: str, command: str) -> str:
    """Through the form; returns the task page's path."""
    page.goto("/ui/tasks/new")  # type: ignore[attr-defined]
    page.fill("#f-name", name)  # type: ignore[attr-defined]
    page.fill("#f-command", command)  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/ui/tasks/[0-9a-f-]{36}$"))  # type: ignore[attr-defined]
    return "/ui/" + page.url.split("/ui/", 1)[1]  # type: ignore[attr-defined]


def output_when(page: object, text: str) -> str:
    """The run page's output the first time it holds `text` (polled: the page's CSP forbids
    the eval that wait_for_function needs)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while text not in (shown := page.inner_text("#output")):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{text!r} never shown; output {shown!r}"
        page.wait_for_timeout(100)  # type: ignore[attr-defined]
    return shown.strip()


def mark(page: object) -> None:
    page.evaluate("window.__not_reloaded = true")  # type: ignore[attr-defined]


def still_marked(page: object) -> bool:
    return bool(page.evaluate("window.__not_reloaded === true"))  # type: ignore[attr-defined]


def test_a_bad_cron_is_shown_by_its_field_then_the_task_is_created(
    page: object, screenshots: Path
) -> None:
    name = unique("ui-form")
    page.goto("/ui/tasks/new")  # type: ignore[attr-defined]
    page.fill("#f-name", name)  # type: ignore[attr-defined]
    page.fill("#f-command", "echo hi")  # type: ignore[attr-defined]
    page.fill("#f-schedule", "99 * * * *")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]

    error = page.locator("#e-schedule")  # type: ignore[attr-defined]
    assert "cron" in error.inner_text()
    assert page.get_attribute("#f-schedule", "aria-invalid") == "true"  # type: ignore[attr-defined]
    assert page.input_value("#f-name") == name  # type: ignore[attr-defined]

    page.fill("#f-schedule", "*/5 * * * *")  # type: ignore[attr-defined]
    page.fill("#f-timezone", "Asia/Shanghai")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/ui/tasks/[0-9a-f-]{36}$"))  # type: ignore[attr-defined]
    assert name in page.inner_text("h1")  # type: ignore[attr-defined]
    assert page.locator("#fires li time[data-zone='Asia/Shanghai']").count() == 10  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshots / "task.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_triggered_run_goes_to_succeeded_on_its_page_without_a_reload(
    page: object, screenshots: Path
) -> None:
    # Seen running, with its output so far (the first line, about a second after it starts).
    create_task(page, unique("ui-run"), "echo hello-so-far; sleep 4; echo hello-from-the-ui")
    page.click("#trigger")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))  # type: ignore[attr-defined]
    first = page.get_attribute("#run-status", "data-status")  # type: ignore[attr-defined]
    assert first in ("pending", "assigned", "running")
    mark(page)

    page.wait_for_selector('#run-status[data-status="running"]')  # type: ignore[attr-defined]
    # Only the output so far has the first line without the last: it came while it ran.
    assert output_when(page, "hello-so-far") == "hello-so-far"
    page.wait_for_selector('#run-status[data-status="succeeded"]')  # type: ignore[attr-defined]
    assert "hello-so-far\nhello-from-the-ui" in page.inner_text("#output")  # type: ignore[attr-defined]
    assert page.inner_text("#exit-code").strip() == "0"  # type: ignore[attr-defined]
    assert still_marked(page)
    page.screenshot(path=str(screenshots / "run.png"), full_page=True)  # type: ignore[attr-defined]

    page.goto("/ui/")  # type: ignore[attr-defined]
    assert "succeeded" in page.inner_text("#run-counts")  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshots / "overview.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_admin_rebuilds_a_projection_and_watches_it_switch(page: object) -> None:
    page.goto("/ui/system")  # type: ignore[attr-defined]
    page.click("#rebuild-runs")  # type: ignore[attr-defined]
    page.wait_for_selector("#rebuild-job-runs")  # type: ignore[attr-defined]
    mark(page)

    page.wait_for_selector('#rebuild-job-runs[data-status="switched"]')  # type: ignore[attr-defined]
    applied, total = page.inner_text("#rebuild-job-runs .applied").split(" / ")  # type: ignore[attr-defined]
    assert int(applied) == int(total) > 0
    assert page.locator("#rebuilds[data-poll]").count() == 0  # type: ignore[attr-defined]
    assert still_marked(page)  # polled while it ran, never reloaded


def test_a_long_run_is_cancelled_from_its_page(page: object) -> None:
    create_task(page, unique("ui-long"), "sleep 60")
    page.click("#trigger")  # type: ignore[attr-defined]
    page.wait_for_selector('#run-status[data-status="running"]')  # type: ignore[attr-defined]
    page.click("#cancel")  # type: ignore[attr-defined]
    page.wait_for_selector('#run-status[data-status="cancelled"]')  # type: ignore[attr-defined]
    assert page.locator("#cancel").count() == 0  # type: ignore[attr-defined]


def test_a_task_is_paused_and_resumed(page: object) -> None:
    create_task(page, unique("ui-pause"), "echo x")
    page.fill("#pause-reason", "maintenance")  # type: ignore[attr-defined]
    page.click("#pause")  # type: ignore[attr-defined]
    page.wait_for_selector("#resume")  # type: ignore[attr-defined]
    assert "paused" in page.inner_text("#task-status")  # type: ignore[attr-defined]
    assert "maintenance" in page.inner_text("#definition")  # type: ignore[attr-defined]
    page.click("#resume")  # type: ignore[attr-defined]
    page.wait_for_selector("#pause")  # type: ignore[attr-defined]
    assert "active" in page.inner_text("#task-status")  # type: ignore[attr-defined]


def test_an_edit_is_rolled_back_from_the_history(page: object) -> None:
    path = create_task(page, unique("ui-edit"), "echo first")
    page.click("#edit")  # type: ignore[attr-defined]
    page.fill("#f-command", "echo second")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/ui/tasks/[0-9a-f-]{36}$"))  # type: ignore[attr-defined]
    assert "echo second" in page.inner_text("#definition")  # type: ignore[attr-defined]

    page.click('[data-rollback="1"]')  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(path + "$"))  # type: ignore[attr-defined]
    assert "echo first" in page.inner_text("#definition")  # type: ignore[attr-defined]
    assert "Task.Updated" in page.inner_text("#history")  # type: ignore[attr-defined]


def test_a_worker_is_drained_and_the_list_follows_live(
    page: object, scheduler: SchedulerProcess
) -> None:
    name = unique("ui-worker")
    page.goto("/ui/workers")  # type: ignore[attr-defined]
    mark(page)
    body = {"name": name, "hostname": "h", "executors": ["http"]}
    assert httpx.post(f"{scheduler.url}/api/workers", json=body).status_code == 201
    page.wait_for_selector(f'[data-drain="{name}"]')  # type: ignore[attr-defined]
    assert still_marked(page)  # it appeared from the event stream
    page.click(f'[data-drain="{name}"]')  # type: ignore[attr-defined]
    row = page.locator(f'tr[data-worker="{name}"]')  # type: ignore[attr-defined]
    assert "draining" in row.inner_text() or "deregistered" in row.inner_text()


def test_a_viewer_sees_no_controls_and_is_refused_on_post(
    browser: object, scheduler: SchedulerProcess
) -> None:
    created = httpx.post(
        f"{scheduler.url}/api/keys", json={"name": unique("ui-viewer"), "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    task = httpx.post(
        f"{scheduler.url}/api/tasks", json={"name": unique("ui-seen"), "command": "echo"}
    ).json()
    # A browser that does not come from loopback's anonymous access: it must sign in.
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=scheduler.url, extra_http_headers={"X-Forwarded-For": "203.0.113.9"}
    )
    page = context.new_page()
    page.goto(f"/ui/tasks/{task['uuid']}")
    assert "/ui/login" in page.url
    page.fill("#api_key", "sk_not-a-key")
    page.click("button[type=submit]")
    assert "Unknown API key" in page.inner_text("#api_key-error")
    page.fill("#api_key", created.json()["key"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(f"/ui/tasks/{task['uuid']}$"))
    assert "(viewer)" in page.inner_text(".who")
    for control in ("#trigger", "#edit", "#pause", "#delete", "[data-rollback]"):
        assert page.locator(control).count() == 0, control
    csrf = page.get_attribute("form[action='/ui/logout'] input[name=csrf]", "value")
    refused = page.request.post(
        f"/ui/tasks/{task['uuid']}/trigger", form={"csrf": csrf, "params": ""}
    )
    assert refused.status == 403
    assert "needs the right 'operate'" in refused.text()
    context.close()
