"""The UI in a real browser: Debian's headless Chromium, driven by Playwright, logs in, checks the
home page and the DAG list for import errors, triggers a DAG with the Trigger button, opens the
run's task log, and saves screenshots under artifacts/e2e/ (git-ignored).

Runs after test_rest_api.py (file order): its extra run must not disturb that test's comparisons.

Playwright's own browser downloads are never used: the system Chromium is launched by path.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import RUN_TIMEOUT

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMPORT_ERROR = re.compile(r"import error", re.IGNORECASE)
# Playwright's assertions wait 5 s by default, whatever page.set_default_timeout says: on a busy
# machine the DAG list's first data arrived 8 s after the page (it says "0 Dags" until then).
UI_TIMEOUT_MS = 60_000
LOG_TASK = ("extract_obe_mysql", "extract_bookings")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_the_ui_lists_every_dag_without_import_errors_triggers_and_shows_a_log(
    e2e_stack, first_round, browser, artifacts
):
    from playwright.sync_api import expect

    client, base = e2e_stack.client, e2e_stack.base_url
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)

    # Logging in: the simple auth manager's form, as a person fills it in.
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", client.username)
    page.fill("input[name=password]", client.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    # The home page shows a "Dag Import Errors" button whenever a DAG file fails to import.
    expect(page.get_by_text("Welcome", exact=False).first).to_be_visible()
    settle(page)
    page.screenshot(path=artifacts / "01_home.png", full_page=True)
    assert not IMPORT_ERROR.search(page.inner_text("body")), "the home page reports DAG import errors"

    # The list is drawn from one /ui/dags call: wait for it, so a short list is told apart from a
    # slow one. Every DAG is parsed by now (the fixture waited for them through the REST API).
    with page.expect_response(lambda r: "/ui/dags?" in r.url and "dag_runs_limit" in r.url) as listing:
        page.goto(f"{base}/dags")
    listed = {d["dag_id"] for d in listing.value.json()["dags"]}
    assert listed >= set(first_round_dag_ids(first_round)), sorted(listed)
    expect(page.get_by_role("heading", name=f"{len(listed)} Dags")).to_be_visible()
    for dag_id in first_round_dag_ids(first_round):
        expect(page.get_by_text(dag_id, exact=True).first).to_be_visible()
    settle(page)
    page.screenshot(path=artifacts / "02_dag_list.png", full_page=True)
    assert not IMPORT_ERROR.search(page.inner_text("body")), "the DAG list reports import errors"

    # Trigger as a person does: the DAG's Trigger button, the dialog's defaults, Trigger. Airflow
    # 3.3's dialog pre-fills the logical date with "now" (the REST test covers a run without one).
    dag_id, task_id = LOG_TASK
    page.goto(f"{base}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Trigger Dag - {dag_id}")).to_be_visible()
    # (The dialog's "Unpause ... on trigger" box, ticked by default, only shows while the DAG is
    # paused; the REST test has unpaused it already.)
    settle(page)
    page.screenshot(path=artifacts / "03_trigger_dialog.png")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/{dag_id}/dagRuns")
    ) as answer:
        dialog.get_by_role("button", name="Trigger").click()
    assert answer.value.status in (200, 201), answer.value.text()
    run = answer.value.json()
    state = client.wait_for_runs([(dag_id, run["dag_run_id"])], RUN_TIMEOUT)
    assert state == {(dag_id, run["dag_run_id"]): "success"}, state

    page.goto(f"{base}/dags/{dag_id}/runs/{run['dag_run_id']}/tasks/{task_id}")
    expect(page.get_by_text("raw_obe.bookings: staged", exact=False).first).to_be_visible()
    settle(page)
    page.screenshot(path=artifacts / "04_task_log.png", full_page=True)

    page.goto(f"{base}/dags/{dag_id}")
    expect(page.get_by_text(dag_id, exact=True).first).to_be_visible()
    settle(page)
    page.screenshot(path=artifacts / "05_dag_grid.png", full_page=True)
    page.close()


def first_round_dag_ids(first_round) -> list[str]:
    return sorted({r["dag_id"] for r in first_round.runs})


def settle(page) -> None:
    """Let the page finish its API calls, so a screenshot shows data rather than placeholders."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # a page that keeps polling is still worth a screenshot
        page.wait_for_load_state("networkidle", timeout=10_000)


def test_the_import_error_check_matches_the_ui_wording():
    """The check above reads the page text: it must match what the UI writes when a DAG is broken
    (Airflow's own English strings), or it could never fail."""
    import json

    import airflow

    locale = Path(airflow.__file__).parent / "ui" / "dist" / "i18n" / "locales" / "en" / "dashboard.json"
    strings = json.loads(locale.read_text())["importErrors"]
    wording = [strings["dagImportError_one"], strings["dagImportError_other"]]
    assert all(IMPORT_ERROR.search(text) for text in wording), wording
    assert not IMPORT_ERROR.search("6 Dags  Failed Dags  Running Dags  Active Dags")
