"""The fake Vonigo honours the API contract in the Vonigo README (so the client tests mean something)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.processes import free_port
from devtools.vonigo_fake import FAKE_PASSWORD, FAKE_USER, VonigoFake, md5_hex

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
UA = {"User-Agent": "tests"}


@pytest.fixture
def fake():
    with VonigoFake() as server:
        yield server


def post(fake, path, body=None, **kwargs):
    return requests.post(fake.base_url + path, json=body or {}, headers=UA, timeout=5, **kwargs)


def login(fake) -> str:
    answer = post(fake, "security/login/", {"userName": FAKE_USER, "password": md5_hex(FAKE_PASSWORD)}).json()
    assert answer["errNo"] == 0
    return answer["securityToken"]


def test_login_envelope_and_session(fake):
    answer = post(
        fake,
        "security/login/",
        {
            "company": "anything",
            "username": FAKE_USER.upper(),
            "password": md5_hex(FAKE_PASSWORD),
            "app_version": "1",
        },
    ).json()
    assert answer["company"] == "Vonigo"
    assert answer["errNo"] == 0
    assert answer["dateNow"].isdigit()
    assert answer["Session"]["franchiseID"] == "90"
    assert answer["securityGroups"][0]["isSelected"] is True
    assert len(answer["securityToken"]) == 10


def test_login_by_get_query_string(fake):
    answer = requests.get(
        fake.base_url + "security/login/",
        params={"userName": FAKE_USER, "password": md5_hex(FAKE_PASSWORD)},
        timeout=5,
    ).json()
    assert answer["errNo"] == 0
    assert answer["securityToken"]


def test_paths_are_case_insensitive_and_need_the_trailing_slash(fake):
    token = login(fake)
    ok = post(fake, "DATA/workorders/", {"securityToken": token, "pageSize": "1"})
    assert ok.status_code == 200
    assert len(ok.json()["WorkOrders"]) == 1
    missing_slash = requests.post(fake.base_url + "data/WorkOrders", json={"securityToken": token}, timeout=5)
    assert missing_slash.status_code == 404
    assert "<html>" in missing_slash.text
    unknown = post(fake, "data/Crews/", {"securityToken": token})
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"].startswith("text/html")


def test_json_errors_come_with_http_200(fake):
    answer = post(fake, "data/Clients/", {"securityToken": "nope"})
    assert answer.status_code == 200
    assert answer.json()["errNo"] == -421
    assert answer.json()["errMsg"] == "Session expired. "


def test_parameters_merge_query_and_body_body_wins_keys_case_insensitive(fake):
    token = login(fake)
    answer = requests.post(
        fake.base_url + "data/Clients/?PAGESIZE=1&franchiseid=91",
        json={"SecurityToken": token, "franchiseID": 90},
        timeout=5,
    ).json()
    assert len(answer["Clients"]) == 1
    assert answer["Clients"][0]["name"].startswith("Client 90-")
    form = requests.post(
        fake.base_url + "data/Clients/", data={"securityToken": token, "pageSize": "2"}, timeout=5
    )
    assert len(form.json()["Clients"]) == 2


def test_empty_user_agent_is_blocked_when_required(fake):
    fake.configure(require_user_agent=True)
    blocked = requests.post(fake.base_url + "security/login/", json={}, headers={"User-Agent": ""}, timeout=5)
    assert blocked.status_code == 403
    assert "error code: 1010" in blocked.text


def test_token_idle_ttl_and_session_cap(fake):
    fake.configure(token_ttl=60, max_sessions_per_user=2)
    now = [1000.0]
    fake.clock = lambda: now[0]
    first, second = login(fake), login(fake)
    now[0] += 30
    assert post(fake, "data/Clients/", {"securityToken": first}).json()["errNo"] == 0
    third = login(fake)  # evicts the oldest session
    assert post(fake, "data/Clients/", {"securityToken": first}).json()["errNo"] == -421
    now[0] += 61
    assert post(fake, "data/Clients/", {"securityToken": second}).json()["errNo"] == -421
    assert third


def test_filters_sorting_and_complete_objects(fake):
    token = login(fake)
    base = {"securityToken": token, "franchiseID": "90"}
    by_client = post(fake, "data/WorkOrders/", {**base, "clientID": "790001"}).json()["WorkOrders"]
    assert by_client
    assert all(r["name"] == "Client 90-01" for r in by_client)
    assert "Fields" not in by_client[0]
    one = post(fake, "data/WorkOrders/", {**base, "objectID": "990005", "isCompleteObject": "true"}).json()
    assert [r["objectID"] for r in one["WorkOrders"]] == ["990005"]
    assert one["WorkOrders"][0]["Fields"]
    search = post(fake, "data/Clients/", {**base, "searchPar": "90-1"}).json()["Clients"]
    assert {r["name"] for r in search} == {"Client 90-10", "Client 90-11", "Client 90-12"}
    edited = post(fake, "data/Clients/", {**base, "sortMode": "3", "sortDirection": "1"}).json()["Clients"]
    stamps = [int(r["dateLastEdited"]) for r in edited]
    assert stamps == sorted(stamps, reverse=True)
    issued = post(
        fake, "data/Invoices/", {**base, "dateMode": "1", "dateStart": "0", "dateEnd": "1736445600"}
    )
    assert len(issued.json()["Invoices"]) == 10
    assert "franchiseID" not in edited[0]
    assert "_franchiseID" not in edited[0]


def test_retrieve_returns_the_singular_key_and_top_level_fields(fake):
    token = login(fake)
    answer = post(fake, "data/Clients/", {"securityToken": token, "method": "1", "objectID": "790001"}).json()
    assert answer["Client"]["objectID"] == "790001"
    assert answer["Fields"]
    assert answer["Relations"]
    assert "Fields" not in answer["Client"]
    invoice = post(
        fake, "data/Invoices/", {"securityToken": token, "method": "1", "objectID": "220001"}
    ).json()
    assert invoice["errNo"] == -600


def test_writes_are_refused_and_recorded(fake):
    token = login(fake)
    answer = post(
        fake, "data/WorkOrders/", {"securityToken": token, "method": "2", "objectID": "990001"}
    ).json()
    assert answer["errNo"] == -600
    assert answer["Errors"][0]["errMsg"] == "The fake Vonigo is read-only."
    assert fake.writes == [{"object": "workorders", "method": "2", "params": fake.writes[0]["params"]}]


def test_franchises_and_system_objects(fake):
    token = login(fake)
    franchises = post(fake, "resources/franchises/", {"securityToken": token, "method": "0"}).json()[
        "Franchises"
    ]
    assert [f["franchiseID"] for f in franchises] == [90, 91, 92]
    assert {type(f["isActive"]) for f in franchises} == {str, bool}
    one = post(fake, "security/franchises/", {"securityToken": token, "method": "1", "objectID": "91"}).json()
    assert one["Franchise"] == {"objectID": "91"}
    assert one["Fields"][0]["fieldID"] == 9
    objects = post(fake, "system/objects/", {"securityToken": token}).json()["Objects"]
    assert {"objectTypeID": 12, "name": "Work Order", "isHasFields": True} in objects
    work_order = post(
        fake, "system/objects/", {"securityToken": token, "method": "1", "objectID": "12"}
    ).json()
    assert {f["fieldID"] for f in work_order["Fields"]} >= {181, 185, 9835}
    assert {o["optionID"] for o in work_order["Options"]} >= {160, 161, 164}
    free_text = post(
        fake, "system/objects/", {"securityToken": token, "method": "1", "fieldID": "186"}
    ).json()
    assert free_text["errNo"] == -501


def test_control_endpoints_over_http(fake):
    root = fake.root_url + "/__fake__/"
    assert requests.post(root + "fail_next", json={"count": 1, "mode": "522_html"}, timeout=5).json() == {
        "ok": True
    }
    outage = post(fake, "security/login/", {})
    assert outage.status_code == 522
    assert "Cloudflare" in outage.text
    assert requests.post(root + "fail_next", json={"mode": "nonsense"}, timeout=5).status_code == 400
    token = login(fake)
    requests.post(root + "expire_tokens", timeout=5)
    assert post(fake, "data/Jobs/", {"securityToken": token}).json()["errNo"] == -421
    requests.post(root + "config", json={"omit_empty_key": True}, timeout=5)
    token = login(fake)
    assert "Job" not in post(fake, "data/Jobs/", {"securityToken": token, "pageNo": "9"}).json()
    calls = requests.get(root + "calls", timeout=5).json()["calls"]
    assert [c["route"] for c in calls][:2] == ["security/login", "security/login"]
    assert calls[0]["fault"] == "522_html"
    assert calls[0]["status"] == 522
    requests.post(root + "reset", timeout=5)
    assert fake.calls() == []
    assert fake.toggles["omit_empty_key"] is False


def test_runs_as_a_module_for_demos(tmp_path):
    port = free_port()
    fixtures = tmp_path / "fixtures.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "devtools.vonigo_fake", "--dump-fixtures", str(fixtures)],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.vonigo_fake", "--port", str(port), "--fixtures", str(fixtures)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Vonigo fake on http://127.0.0.1:" in process.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = requests.post(
                    f"http://127.0.0.1:{port}/api/v1/security/login/",
                    json={"userName": FAKE_USER, "password": md5_hex(FAKE_PASSWORD)},
                    timeout=2,
                ).json()
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer["errNo"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
    assert process.returncode == 0
