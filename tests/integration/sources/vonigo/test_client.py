"""The Vonigo client against the local fake: every scenario the Vonigo README lists as tested."""

from __future__ import annotations

import logging
import threading

import pytest
import requests

from bi_pipelines.sources.vonigo.client import (
    VonigoClient,
    VonigoEndpoint,
    VonigoError,
    VonigoLoginError,
    VonigoUnavailable,
    VonigoValidationError,
    password_md5,
)
from bi_pipelines.sources.vonigo.spec import ClientSettings
from devtools.vonigo_fake import FAKE_PASSWORD, FAKE_USER, VonigoFake

pytestmark = pytest.mark.integration

FAST = ClientSettings(
    attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.05, jitter=0.0, read_timeout=0.5, page_size=10
)


@pytest.fixture
def fake():
    with VonigoFake() as server:
        yield server


@pytest.fixture
def make_client(fake):
    clients = []

    def make(password: str = FAKE_PASSWORD, settings: ClientSettings = FAST, **kwargs) -> VonigoClient:
        client = VonigoClient(VonigoEndpoint(fake.base_url, FAKE_USER, password), settings, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _data_calls(fake, route):
    return [c for c in fake.calls(route) if c["status"] == 200]


# 1 -------------------------------------------------------------------------------------------------
def test_login_sends_the_md5_once_and_never_the_plain_text(fake, make_client):
    client = make_client()
    client.login()
    login = fake.calls("security/login")[0]
    assert login["params"]["password"] == password_md5(FAKE_PASSWORD)
    assert login["params"]["userName"] == FAKE_USER
    assert login["params"]["appVersion"] == "1"
    assert FAKE_PASSWORD not in str(fake.calls())
    assert client.session_info["franchiseID"] == "90"


@pytest.mark.parametrize("sent", ["plain", "double"])
def test_the_fake_rejects_plain_and_double_hashed_passwords(fake, sent):
    password = FAKE_PASSWORD if sent == "plain" else password_md5(password_md5(FAKE_PASSWORD))
    answer = requests.post(
        fake.base_url + "security/login/",
        json={"company": "Vonigo", "userName": FAKE_USER, "password": password},
        timeout=5,
    ).json()
    assert answer["errNo"] != 0
    assert answer["securityToken"] == ""


def test_a_refused_login_fails_clearly_without_the_password_and_is_not_retried(fake, make_client):
    client = make_client(password="wrong password")
    with pytest.raises(VonigoLoginError, match=r"vonigo_creds\.py") as info:
        client.request("data/Clients/", {})
    assert "wrong password" not in str(info.value)
    assert password_md5("wrong password") not in str(info.value)
    assert len(fake.calls("security/login")) == 1


def test_an_already_hashed_password_is_sent_as_is_when_the_connection_says_so(fake):
    endpoint = VonigoEndpoint(fake.base_url, FAKE_USER, password_md5(FAKE_PASSWORD), password_is_md5=True)
    with VonigoClient(endpoint, FAST) as client:
        client.login()
    assert fake.calls("security/login")[0]["params"]["password"] == password_md5(FAKE_PASSWORD)


# 2 -------------------------------------------------------------------------------------------------
def test_multi_page_extraction_stops_on_a_short_page(fake, make_client):
    client = make_client()
    result = client.fetch_all("data/WorkOrders/", {"franchiseID": 90}, list_keys=["WorkOrders"])
    assert (result.pages, len(result.records), result.duplicates) == (3, 23, 0)
    pages = [c["params"]["pageNo"] for c in fake.calls("data/workorders")]
    assert pages == ["1", "2", "3"]
    assert len({r["objectID"] for r in result.records}) == 23


@pytest.mark.parametrize("omit_empty_key", [False, True])
def test_an_empty_or_missing_last_page_ends_the_paging(fake, make_client, omit_empty_key):
    fake.configure(omit_empty_key=omit_empty_key)
    client = make_client()
    # 12 clients in franchise 90: pages of 6, 6, then an empty (or key-less) page 3.
    result = client.fetch_all("data/Clients/", {"franchiseID": 90}, list_keys=["Clients"], page_size=6)
    assert (result.pages, len(result.records)) == (3, 12)


def test_the_safety_cap_fails_instead_of_truncating(fake, make_client):
    client = make_client()
    with pytest.raises(VonigoError, match=r"still full pages after 2 pages of 5; raise source.max_pages"):
        client.fetch_all("data/WorkOrders/", {}, list_keys=["WorkOrders"], page_size=5, max_pages=2)


# 3 -------------------------------------------------------------------------------------------------
def test_an_expired_token_mid_extraction_logs_in_once_and_replays_the_page(fake, make_client, caplog):
    client = make_client()
    client.switch_franchise(91)
    # The session disappears just before page 2 of the work orders.
    fake.fail_next(mode="expire", path="data/workorders", skip=1)
    with caplog.at_level(logging.WARNING):
        result = client.fetch_all("data/WorkOrders/", {}, list_keys=["WorkOrders"], page_size=4)
    ids = [r["objectID"] for r in result.records]
    assert len(ids) == 9 == len(set(ids))
    assert result.duplicates == 0
    assert client.stats["logins"] == 2
    assert client.stats["relogins"] == 1
    calls = fake.calls("data/workorders")
    assert [c["params"]["pageNo"] for c in calls] == ["1", "2", "2", "3"]
    assert [c["errNo"] for c in calls] == [0, -421, 0, 0]
    # The new token was switched back to franchise 91 before the replay (no franchiseID in the body).
    switches = fake.calls("security/session")
    assert [c["params"]["franchiseID"] for c in switches] == ["91", "91"]
    assert all(r["name"].startswith("Client 91-") for r in result.records)
    assert "logging in again and replaying" in caplog.text


def test_a_session_that_expires_again_right_away_fails(fake, make_client):
    client = make_client()
    client.login()
    fake.fail_next(count=2, mode="expire", path="data/clients")
    with pytest.raises(VonigoError, match="expired again right after a new login"):
        client.request("data/Clients/", {})


# 4 -------------------------------------------------------------------------------------------------
def test_switching_to_the_current_franchise_is_a_success(fake, make_client):
    client = make_client()
    client.switch_franchise(90)  # the home franchise: -600 / -5213
    assert fake.calls("security/session")[-1]["errNo"] == -600
    client.switch_franchise(91)
    assert fake.calls("security/session")[-1]["errNo"] == 0
    with pytest.raises(VonigoValidationError, match="Franchise does not exist"):
        client.switch_franchise(12345)


# 5 -------------------------------------------------------------------------------------------------
def test_dates_without_date_mode_are_ignored_by_vonigo_so_the_client_always_sends_it(fake, make_client):
    client = make_client()
    client.login()
    far_future = {"dateStart": "4102444800", "dateEnd": "4102531200", "franchiseID": "90"}
    # The fake behaves like Vonigo: without dateMode the dates are silently ignored.
    answer = requests.post(
        fake.base_url + "data/Clients/", json={**far_future, "securityToken": client._token}, timeout=5
    ).json()
    assert len(answer["Clients"]) == 12
    with pytest.raises(VonigoError, match="need a dateMode"):
        client.fetch_all("data/Clients/", far_future, list_keys=["Clients"])
    with_mode = client.fetch_all("data/Clients/", {**far_future, "dateMode": 2}, list_keys=["Clients"])
    assert with_mode.records == []
    sent_by_client = [c for c in fake.calls("data/clients") if c["user_agent"].startswith("bi-pipelines")]
    assert len(sent_by_client) == 1
    assert sent_by_client[0]["params"]["dateMode"] == "2"


# 6 -------------------------------------------------------------------------------------------------
def test_odd_list_keys_jobs_cases_and_leads(fake, make_client):
    client = make_client()
    jobs = client.fetch_all("data/Jobs/", {"franchiseID": 90}, list_keys=["Job", "Jobs"])
    assert len(jobs.records) == 12
    leads = client.fetch_all("data/Leads/", {"franchiseID": 90}, list_keys=["Clients"])
    assert len(leads.records) == 3
    assert all("Fields" not in r for r in leads.records)  # only with isCompleteObject
    complete = client.fetch_all(
        "data/Leads/", {"franchiseID": 90, "isCompleteObject": True}, list_keys=["Clients"]
    )
    assert all(any(f["fieldValue"] == "Lead" for f in r["Fields"]) for r in complete.records)


def test_cases_ignoring_page_no_are_deduplicated_and_terminate(fake, make_client, caplog):
    client = make_client()
    with caplog.at_level(logging.WARNING):
        cases = client.fetch_all("data/Cases/", {"franchiseID": 90}, list_keys=["Case"], page_size=5)
    assert (cases.pages, len(cases.records), cases.duplicates) == (2, 5, 5)
    assert "ignores pageNo" in caplog.text
    fake.configure(cases_ignore_pageno=False)
    cases = client.fetch_all("data/Cases/", {"franchiseID": 90}, list_keys=["Case"], page_size=5)
    assert (cases.pages, len(cases.records), cases.duplicates) == (2, 7, 0)


# 7 is about landing: tests/unit/test_vonigo_landing.py and tests/integration/test_vonigo_extract.py.
def test_the_fake_serves_mixed_is_active_types_and_money_strings(make_client):
    client = make_client()
    records = client.fetch_all(
        "data/Invoices/", {"franchiseID": 90, "isCompleteObject": True}, list_keys=["Invoices"]
    ).records
    kinds = {type(r["isActive"]) for r in records}
    assert kinds == {str, bool}
    values = [f["fieldValue"] for r in records for f in r["Fields"]]
    assert any(v.startswith("$") and "," in v for v in values)
    assert "-50.0000" in values


# 8 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["522_html", "garbage", "timeout"])
def test_outages_are_retried_with_backoff(fake, make_client, mode):
    fake.configure(timeout_seconds=1.0)
    delays = []
    client = make_client(sleep=delays.append)
    client.login()
    fake.fail_next(count=2, mode=mode, path="data/clients")
    result = client.fetch_all("data/Clients/", {"franchiseID": 91}, list_keys=["Clients"])
    assert len(result.records) == 7
    assert client.stats["retries"] == 2
    assert delays == [0.01, 0.02]  # exponential (no jitter in this test)
    assert [c["fault"] for c in fake.calls("data/clients")] == [mode, mode, None]


def test_a_persistent_outage_fails_with_vonigo_unavailable_after_the_configured_tries(fake, make_client):
    client = make_client(sleep=lambda _: None)
    client.login()
    fake.fail_next(count=10, mode="522_html", path="data/clients")
    with pytest.raises(
        VonigoUnavailable, match=r"^Vonigo unavailable: data/Clients/ .* failed 3 times, last with HTTP 522"
    ):
        client.request("data/Clients/", {})
    assert len(fake.calls("data/clients")) == 3


def test_an_unreachable_host_is_unavailable_too():
    endpoint = VonigoEndpoint("http://127.0.0.1:9/api/v1/", FAKE_USER, FAKE_PASSWORD)
    with (
        VonigoClient(endpoint, FAST, sleep=lambda _: None) as client,
        pytest.raises(VonigoUnavailable, match="connection failed"),
    ):
        client.login()


def test_an_unknown_path_is_not_retried(fake, make_client):
    client = make_client()
    client.login()
    with pytest.raises(VonigoError, match="HTTP 404 without JSON: unknown path"):
        client.request("data/Crews/", {})
    assert len(fake.calls("data/crews")) == 1


# 9 -------------------------------------------------------------------------------------------------
def test_validation_errors_are_not_retried_and_show_their_errors(fake, make_client):
    client = make_client()
    client.login()
    fake.fail_next(mode="validation", path="data/clients")
    with pytest.raises(VonigoValidationError, match="Field data is in incorrect format") as info:
        client.request("data/Clients/", {})
    assert info.value.errno == -600
    assert info.value.errors[0]["errNo"] == -602
    assert len(fake.calls("data/clients")) == 1


# 10 ------------------------------------------------------------------------------------------------
def test_logout_is_always_called_even_when_the_work_fails(fake):
    endpoint = VonigoEndpoint(fake.base_url, FAKE_USER, FAKE_PASSWORD)
    fake.fail_next(mode="validation", path="data/clients")
    with pytest.raises(VonigoValidationError), VonigoClient(endpoint, FAST) as client:
        client.request("data/Clients/", {})
    token = fake.calls("security/login")
    logout = fake.calls("security/logout")
    assert len(token) == 1
    assert len(logout) == 1
    assert logout[0]["errNo"] == 0
    assert logout[0]["http_method"] == "GET"
    assert not fake.tokens  # the session is gone on the server


def test_logout_of_an_expired_token_is_tolerated(fake):
    endpoint = VonigoEndpoint(fake.base_url, FAKE_USER, FAKE_PASSWORD)
    with VonigoClient(endpoint, FAST) as client:
        client.login()
        fake.expire_tokens()
    assert fake.calls("security/logout")[0]["errNo"] == -421


def test_logout_during_an_outage_is_tolerated(fake):
    endpoint = VonigoEndpoint(fake.base_url, FAKE_USER, FAKE_PASSWORD)
    with VonigoClient(endpoint, FAST) as client:
        client.login()
        fake.fail_next(count=5, mode="522_html", path="security/logout")
    assert len(fake.calls("security/logout")) == 1  # one try only, then ignored


# transport conventions -----------------------------------------------------------------------------
def test_user_agent_trailing_slashes_and_string_values(fake, make_client):
    fake.configure(require_user_agent=True)
    client = make_client()
    client.fetch_all(
        "data/Clients/",
        {"franchiseID": 90, "isCompleteObject": True, "dateMode": 2, "dateStart": 0, "dateEnd": 4102444800},
        list_keys=["Clients"],
    )
    for call in fake.calls():
        assert call["user_agent"].startswith("bi-pipelines-vonigo-extractor/")
        assert call["path"].endswith("/")
        assert all(isinstance(v, str) for v in call["params"].values()), call
    data = fake.calls("data/clients")[0]["params"]
    assert data["isCompleteObject"] == "true"
    assert data["pageSize"] == "10"
    assert data["dateMode"] == "2"


def test_one_login_per_client_and_no_token_shared_between_parallel_clients(fake, make_client):
    tokens: dict[int, set] = {}

    def work(franchise_id: int) -> None:
        client = make_client()
        client.switch_franchise(franchise_id)
        for path, key in (
            ("data/Clients/", "Clients"),
            ("data/Jobs/", "Job"),
            ("data/WorkOrders/", "WorkOrders"),
        ):
            client.fetch_all(path, {"franchiseID": franchise_id}, list_keys=[key])
        assert client.stats["logins"] == 1

    threads = [threading.Thread(target=work, args=(f,)) for f in (90, 91)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for call in fake.calls("data/"):
        tokens.setdefault(int(call["params"]["franchiseID"]), set()).add(call["params"]["securityToken"])
    assert len(tokens[90]) == 1
    assert len(tokens[91]) == 1
    assert tokens[90] != tokens[91]
    assert len(fake.calls("security/login")) == 2


def test_a_truncated_answer_is_logged_without_the_live_security_token(fake, make_client, caplog):
    client = make_client(sleep=lambda _: None)
    fake.fail_next(count=1, mode="truncated", path="security/login")
    with caplog.at_level(logging.DEBUG):
        client.fetch_all("data/Clients/", {"franchiseID": 91}, list_keys=["Clients"])
    assert client.stats["retries"] == 1
    assert len(fake.issued_tokens) == 2
    leaked = fake.issued_tokens[0]  # the session of the cut-short login answer, still live
    assert "a non-JSON body" in caplog.text
    assert "securityToken" in caplog.text
    assert leaked not in caplog.text
    fake.fail_next(count=10, mode="truncated", path="data/clients")
    with pytest.raises(VonigoUnavailable) as info:
        client.request("data/Clients/", {})
    assert client._token is not None
    assert client._token not in str(info.value)


def test_a_record_edited_out_of_the_window_between_pages_is_not_lost(fake, make_client):
    client = make_client()
    client.login()
    params = {
        "franchiseID": 90,
        "dateMode": 2,
        "dateStart": 1736445600 - 3 * 3600,
        "dateEnd": 1736445600,
        "sortMode": 3,
        "sortDirection": 0,
    }
    fake.edit_between_pages("data/clients", after_page=1, move="out")
    result = client.fetch_stable("data/Clients/", params, list_keys=["Clients"], page_size=3)
    ids = sorted(r["objectID"] for r in result.records)
    # 12 clients, two edited 20 days ago: every one of the ten in the window, the moved one too.
    assert ids == sorted(str(790000 + i) for i in range(1, 13) if i % 5)
    assert result.passes == 3
    assert result.recovered == 1
    assert result.reread == 9 + 9  # two more listings of the nine still in the window
    edited = next(e["edited"] for e in fake.page_edits)
    assert edited in ids


def test_a_listing_stable_on_the_first_check_reads_twice(fake, make_client):
    client = make_client()
    result = client.fetch_stable("data/Clients/", {"franchiseID": 91}, list_keys=["Clients"], page_size=5)
    assert (len(result.records), result.passes, result.reread, result.recovered) == (7, 2, 7, 0)
