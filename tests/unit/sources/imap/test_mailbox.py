"""Connecting to the mailbox: a refused login is permanent and tried once."""

from __future__ import annotations

import pytest
from imapclient.exceptions import LoginError

from bi_pipelines.core.errors import AuthenticationError, PermanentError
from bi_pipelines.sources.imap import mailbox
from bi_pipelines.sources.imap.mailbox import ImapSettings, connect_imap

SETTINGS = ImapSettings("bi_imap", "imap.example", 993, "bi@example", "s3cret-pw")


class FakeClient:
    opened = 0

    def __init__(self, *args, **kwargs):
        FakeClient.opened += 1

    def login(self, login, password):
        raise LoginError(f"[AUTHENTICATIONFAILED] Authentication failed for {password}.")

    def shutdown(self):
        pass


def test_a_refused_imap_login_is_a_permanent_authentication_error(monkeypatch):
    monkeypatch.setattr("imapclient.IMAPClient", FakeClient)
    FakeClient.opened = 0
    with pytest.raises(AuthenticationError, match="login refused") as info:
        connect_imap(SETTINGS, attempts=3, backoff=0)
    assert isinstance(info.value, PermanentError)
    assert FakeClient.opened == 1
    assert "s3cret-pw" not in str(info.value)


def test_an_unreachable_server_is_retried_then_fails_with_the_attempts(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("imapclient.IMAPClient", refuse)
    waits = []
    monkeypatch.setattr("time.sleep", waits.append)
    with pytest.raises(
        mailbox.ExtractionError, match=r"cannot connect to 'bi_imap'.*after 3 attempts"
    ) as info:
        connect_imap(SETTINGS, attempts=3, backoff=0.5)
    assert len(calls) == 3
    assert waits == [0.5, 1.0]
    assert not isinstance(info.value, PermanentError)
