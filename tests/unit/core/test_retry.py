"""The retry policy: which failures get another try, how long it waits, what it logs."""

from __future__ import annotations

import logging
import time

import pytest

from bi_pipelines.core.errors import AuthenticationError, ConfigError
from bi_pipelines.core.retry import describe, retrying
from bi_pipelines.core.values import parse_bool

log = logging.getLogger("tests.retry")


class Flaky:
    """Fails ``failures`` times with ``error``, then returns "ok"."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_transient_failures_are_retried_with_capped_exponential_backoff():
    waits: list[float] = []
    policy = retrying(
        attempts=5, backoff_seconds=1.0, max_backoff_seconds=3.0, what="x", logger=log, sleep=waits.append
    )
    fn = Flaky(4, ConnectionRefusedError("refused"))
    assert policy(fn) == "ok"
    assert fn.calls == 5
    assert waits == [1.0, 2.0, 3.0, 3.0]
    assert all(type(w) is float for w in waits)


def test_the_last_error_is_reraised_unchanged_after_the_attempts(caplog):
    policy = retrying(
        attempts=3, backoff_seconds=0, what="connecting to 'db'", logger=log, sleep=lambda _: None
    )
    fn = Flaky(10, TimeoutError("timed out"))
    with (
        caplog.at_level(logging.WARNING, logger="tests.retry"),
        pytest.raises(TimeoutError, match="timed out"),
    ):
        policy(fn)
    assert fn.calls == 3
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"connecting to 'db' failed (attempt {n} of 3): timed out" for n in (1, 2, 3)]


@pytest.mark.parametrize("error", [AuthenticationError("refused"), ConfigError("bad file")])
def test_a_permanent_error_is_never_retried_even_when_its_type_is_transient(error):
    fn = Flaky(10, error)
    with pytest.raises(type(error)):
        retrying(attempts=5, backoff_seconds=0, what="x", logger=log, transient=(Exception,))(fn)
    assert fn.calls == 1


def test_only_the_transient_types_are_retried():
    fn = Flaky(10, KeyError("bug"))
    policy = retrying(attempts=5, backoff_seconds=0, what="x", logger=log, transient=(OSError,))
    with pytest.raises(KeyError):
        policy(fn)
    assert fn.calls == 1


def test_the_log_line_never_shows_a_secret(caplog):
    fn = Flaky(1, RuntimeError("login failed for s3cret-pw\nDETAIL: more"))
    policy = retrying(
        attempts=2, backoff_seconds=0, what="x", logger=log, secrets=["s3cret-pw", None], sleep=lambda _: None
    )
    with caplog.at_level(logging.WARNING, logger="tests.retry"):
        assert policy(fn) == "ok"
    assert "s3cret-pw" not in caplog.text
    assert "login failed for ***" in caplog.text
    assert describe(ValueError()) == "ValueError"


def test_jitter_stretches_each_wait_by_at_most_its_fraction():
    waits: list[float] = []
    policy = retrying(attempts=4, backoff_seconds=2.0, jitter=0.5, what="x", logger=log, sleep=waits.append)
    policy(Flaky(3, OSError("down")))
    for wait, base in zip(waits, [2.0, 4.0, 8.0], strict=True):
        assert base <= wait <= base * 1.5


def test_the_default_sleep_is_looked_up_when_waiting(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    policy = retrying(attempts=2, backoff_seconds=0.5, what="x", logger=log)
    assert policy(Flaky(1, OSError("down"))) == "ok"
    assert waits == [0.5]


def test_parse_bool_uses_the_default_for_missing_or_unknown_values():
    assert parse_bool(None, default=True) is True
    assert parse_bool("", default=False) is False
    assert parse_bool("maybe", default=True) is True
    assert parse_bool("maybe") is None
    assert parse_bool("false", default=True) is False
    assert parse_bool(0, default=True) is False
    assert parse_bool(False, default=True) is False
