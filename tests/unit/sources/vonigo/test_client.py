"""Client pieces that need no server: hashing, value encoding, envelopes, the connection."""

from __future__ import annotations

import json

import pytest
import requests

from bi_pipelines.sources.vonigo.client import (
    VonigoClient,
    VonigoEndpoint,
    VonigoError,
    as_text,
    describe_errors,
    endpoint_from_connection,
    list_items,
    password_md5,
    session_gone,
)
from bi_pipelines.sources.vonigo.spec import ClientSettings


def test_password_is_lower_case_hex_md5():
    assert password_md5("password") == "5f4dcc3b5aa765d61d8327deb882cf99"


def test_values_are_sent_as_strings():
    assert as_text(True) == "true"
    assert as_text(False) == "false"
    assert as_text(200) == "200"
    assert as_text(-1) == "-1"
    assert as_text({"a": [1, True]}) == {"a": ["1", "true"]}
    assert as_text("x") == "x"


def test_list_items_reads_odd_keys_and_treats_missing_as_empty():
    assert list_items({"Job": [{"objectID": "1"}]}, ("Job", "Jobs")) == [{"objectID": "1"}]
    assert list_items({"jobs": [{"objectID": "1"}]}, ("Job", "Jobs")) == [{"objectID": "1"}]
    assert list_items({"Case": {"objectID": "2"}}, ("Case",)) == [{"objectID": "2"}]
    assert list_items({"errNo": 0}, ("Clients",)) == []
    assert list_items({"Clients": None}, ("Clients",)) == []


def test_validation_errors_are_described_with_their_errors_text():
    data = {
        "errNo": -600,
        "errMsg": "Data validation failed.",
        "Errors": [
            {
                "fieldID": 96,
                "fieldName": "Phone",
                "errNo": -602,
                "errMsg": "Field data is in incorrect format.",
            }
        ],
    }
    assert describe_errors(data) == (
        "Data validation failed.; Phone: Field data is in incorrect format. (errNo -602)"
    )


def test_session_gone_by_code_or_by_message():
    assert session_gone({"errNo": -421, "errMsg": ""})
    assert session_gone({"errNo": -1, "errMsg": "Session does not exist"})
    assert not session_gone({"errNo": 0, "errMsg": "Session expired"})
    assert not session_gone({"errNo": -600, "errMsg": "Data validation failed."})


@pytest.mark.parametrize("method", ["2", "3", 4, "5", "6", "16"])
def test_the_client_refuses_write_methods_before_sending(method):
    client = VonigoClient(VonigoEndpoint("http://127.0.0.1:9/api/v1/", "u", "p"), ClientSettings(attempts=1))
    with pytest.raises(VonigoError, match="only reads"):
        client.request("data/WorkOrders/", {"method": method})
    assert client.stats["requests"] == 0


def _conn(monkeypatch, **fields):
    body = {"conn_type": "http", "login": "api.user", "password": "plain secret", **fields}
    monkeypatch.setenv("AIRFLOW_CONN_VONIGO_API", json.dumps(body))


def test_endpoint_from_connection(monkeypatch):
    _conn(
        monkeypatch,
        host="acme.vonigo.com",
        schema="https",
        extra={"company": "Acme", "verify_certificate": False},
    )
    endpoint = endpoint_from_connection("vonigo_api")
    assert endpoint.base_url == "https://acme.vonigo.com/api/v1/"
    assert endpoint.company == "Acme"
    assert endpoint.verify is False
    assert endpoint.password == "plain secret"
    assert "plain secret" not in repr(endpoint)


def test_endpoint_for_a_local_fake(monkeypatch):
    _conn(monkeypatch, host="127.0.0.1", port=8765, schema="http")
    assert endpoint_from_connection("vonigo_api").base_url == "http://127.0.0.1:8765/api/v1/"
    _conn(monkeypatch, extra={"base_url": "http://127.0.0.1:9999/api/v1"})
    assert endpoint_from_connection("vonigo_api").base_url == "http://127.0.0.1:9999/api/v1/"


def test_missing_host_says_what_to_add(monkeypatch):
    _conn(monkeypatch, host="")
    with pytest.raises(VonigoError, match=r"add host = '<tenant>.vonigo.com' to vonigo_creds.py") as info:
        endpoint_from_connection("vonigo_api")
    assert "plain secret" not in str(info.value)


def test_a_refused_login_is_permanent_and_still_a_vonigo_api_error():
    from bi_pipelines.core.errors import AuthenticationError, PermanentError
    from bi_pipelines.sources.vonigo.client import VonigoApiError, VonigoLoginError

    error = VonigoLoginError("refused", -1, [])
    assert isinstance(error, PermanentError)
    assert isinstance(error, AuthenticationError)
    assert isinstance(error, VonigoApiError)
    assert error.errno == -1


class _Pages:
    """Stands in for :meth:`VonigoClient.request`: answers page ``pageNo`` from a list of pages."""

    def __init__(self, *pages: list[dict]):
        self.pages = pages

    def __call__(self, path, params, **_):
        number = int(params["pageNo"])
        return {"errNo": 0, "Clients": self.pages[number - 1] if number <= len(self.pages) else []}


def _record(object_id: str, edited: int, name: str = "") -> dict:
    return {"objectID": object_id, "dateLastEdited": str(edited), "name": name or f"r{object_id}"}


def test_paging_keeps_the_newest_copy_of_a_record_seen_twice():
    client = VonigoClient(VonigoEndpoint("http://127.0.0.1:9/api/v1/", "u", "p"), ClientSettings(attempts=1))
    client.request = _Pages(  # type: ignore[method-assign]
        [_record("1", 100, "old"), _record("2", 200)],
        [_record("1", 300, "new"), _record("3", 50)],
        [_record("1", 250, "between")],
    )
    result = client.fetch_all("data/Clients/", {}, list_keys=["Clients"], page_size=2)
    assert result.duplicates == 2
    assert [(r["objectID"], r["name"]) for r in result.records] == [("1", "new"), ("2", "r2"), ("3", "r3")]


def test_a_truncated_body_is_described_without_its_security_token():
    from bi_pipelines.sources.vonigo.client import _snippet

    response = requests.Response()
    response.status_code = 200
    response._content = b'{"company": "Vonigo", "securityToken": "0A1B2C3D4E", "errNo": 0, "Clients": [{"obj'
    text = _snippet(response)
    assert "0A1B2C3D4E" not in text
    assert "securityToken" in text
    response._content = b'{"company":"Vonigo","securityToken":"0A1B2'  # cut inside the token
    assert "0A1B2" not in _snippet(response)
    response._content = b"GET /api/v1/security/logout/?securityToken=0A1B2C3D4E&x=1 failed"
    assert "0A1B2C3D4E" not in _snippet(response)


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"host": ""}, "host"),
        ({"host": "acme.vonigo.com", "login": ""}, "username"),
        ({"host": "acme.vonigo.com", "password": ""}, "raw_password"),
    ],
)
def test_a_connection_no_retry_can_fix_is_a_config_error(monkeypatch, fields, key):
    from bi_pipelines.core.errors import ConfigError, PermanentError

    _conn(monkeypatch, **fields)
    with pytest.raises(ConfigError, match=rf"vonigo_creds\.py.*`{key}`|`{key}`.*vonigo_creds\.py") as info:
        endpoint_from_connection("vonigo_api")
    assert isinstance(info.value, PermanentError)
    assert isinstance(info.value, VonigoError)
    assert "plain secret" not in str(info.value)
