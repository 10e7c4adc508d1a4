"""The Freshness page in a real browser: the navigation entry, the table list with the monitor's
statuses, a table's lag chart and an acknowledgement made in the page (stored in the warehouse).

Runs against the package's Airflow (conftest.py) after every DAG has run once; screenshots go to
artifacts/e2e/freshness_*.png.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.e2e.test_ui_browser import browser, settle  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.e2e

MONITORING = "monitoring.source_table_freshness"
REASON = "e2e: known late source, vendor notified"


def login(page, client, base: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", client.username)
    page.fill("input[name=password]", client.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_the_freshness_page_lists_charts_and_acknowledges(e2e_stack, first_round, browser, artifacts):  # noqa: F811
    from playwright.sync_api import expect

    client, base, wh = e2e_stack.client, e2e_stack.base_url, e2e_stack.databases.warehouse
    expected = dict(wh.query(f"SELECT table_key, status FROM {MONITORING}_latest"))
    assert expected, "the freshness monitor wrote no rows in the first round"

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(30_000)
    login(page, client, base)

    # The navigation bar's entry opens the page inside the UI (an external view with a route).
    page.get_by_role("link", name="Freshness").first.click()
    page.wait_for_url(re.compile(r"/plugin/freshness"))
    frame = page.frame_locator("iframe").first
    rows = frame.locator("#tables tbody tr.row")
    expect(rows.first).to_be_visible()
    settle(page)
    page.screenshot(path=artifacts / "freshness_01_list.png", full_page=True)

    shown = {
        rows.nth(i).get_attribute("data-key"): rows.nth(i).get_attribute("data-status")
        for i in range(rows.count())
    }
    assert {k: shown.get(k) for k in expected} == expected
    lags = frame.locator("#tables tbody tr.row td.lag")
    assert lags.count() == rows.count()

    # Filtering by status keeps only that status.
    status = sorted(set(expected.values()))[0]
    frame.locator("#f-status").select_option(status)
    assert {r.get_attribute("data-status") for r in frame.locator("#tables tbody tr.row").all()} == {status}
    frame.locator("#f-status").select_option("")

    # A flow table's detail: the lag chart (an SVG path through the measured points) and its asset.
    key = next(k for k in sorted(expected) if k.startswith("obe_mysql:"))
    frame.locator(f'#tables tbody tr.row[data-key="{key}"]').click()
    expect(frame.locator("#d-title")).to_have_text(key)
    expect(frame.locator("#chart svg path.lag-line")).to_have_count(1)
    assert frame.locator("#chart svg circle.point").count() >= 1
    assert frame.locator("#chart svg path.lag-line").get_attribute("d").startswith("M")
    expect(frame.locator("#d-asset")).to_contain_text("raw_obe.")
    frame.locator(".ranges button[data-days='30']").click()
    expect(frame.locator("#chart svg path.lag-line")).to_have_count(1)
    settle(page)
    page.screenshot(path=artifacts / "freshness_02_detail.png", full_page=True)

    # Acknowledge from the page: the list shows it, the warehouse stores who and why.
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date().isoformat()
    frame.locator("#ack-reason").fill(REASON)
    frame.locator("#ack-until").fill(until)
    with page.expect_response(lambda r: r.url.endswith("/freshness/api/acknowledgements")) as answer:
        frame.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 201, answer.value.text()
    row = frame.locator(f'#tables tbody tr.row[data-key="{key}"]')
    expect(row.locator("td.ack")).to_contain_text(REASON)
    expect(frame.locator("#d-acks tbody tr")).to_have_count(1)
    settle(page)
    page.screenshot(path=artifacts / "freshness_03_acknowledged.png", full_page=True)
    stored = wh.query(
        "SELECT table_key, reason, until, acknowledged_by, revoked_at FROM monitoring.freshness_acknowledgements"
    )
    assert [(k, r, by, revoked) for k, r, _, by, revoked in stored] == [(key, REASON, client.username, None)]
    assert stored[0][2] == dt.datetime.combine(
        dt.date.fromisoformat(until) + dt.timedelta(days=1), dt.time(), dt.UTC
    )

    # Withdrawn again: the history keeps the row, marked revoked by the same user.
    frame.locator("#revoke").click()
    expect(row.locator("td.ack")).to_have_text("")
    assert wh.query("SELECT revoked_by FROM monitoring.freshness_acknowledgements") == [(client.username,)]
    page.close()


def test_the_page_refuses_anonymous_requests(e2e_stack):
    import httpx

    base = e2e_stack.base_url
    for path in ("/freshness/", "/freshness/api/tables"):
        assert httpx.get(f"{base}{path}").status_code == 401, path
    answer = httpx.post(
        f"{base}/freshness/api/acknowledgements",
        json={"table_key": "x", "reason": "y", "until": "2030-01-01"},
    )
    assert answer.status_code == 401
