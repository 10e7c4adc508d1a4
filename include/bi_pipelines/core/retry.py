"""The retry policy for connects and HTTP calls, on tenacity.

One shape everywhere: a fixed number of attempts, exponential back-off (doubling from
``backoff_seconds``) capped at ``max_backoff_seconds``, optional multiplicative jitter, one warning
per failed attempt, and the last error re-raised unchanged so the caller words the final message
(``cannot connect to ... after N attempts: ...``). Only the ``transient`` exception types are
retried, and a :class:`~bi_pipelines.core.errors.PermanentError` never is, whatever its type.

Usage::

    policy = retrying(attempts=3, backoff_seconds=2.0, what="connecting to 'obe'", logger=log,
                      secrets=[password])
    conn = policy(connect_once, conn_id)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable

import tenacity

from bi_pipelines.core.errors import PermanentError

MASK = "***"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def describe(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The first line of an exception's text (its type name when empty), secrets masked.

    Driver errors often carry a multi-line context (libpq's hints, a DSN); the first line says
    what failed and fits a log line.
    """
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__, secrets)


class JitteredExponentialWait(tenacity.wait.wait_base):
    """``backoff * 2**(n-1)``, capped, then stretched by up to ``jitter`` (a fraction) at random.

    tenacity's own jittered waits add a fixed number of seconds; a fraction of the delay keeps
    parallel clients apart whatever the delay has grown to.
    """

    def __init__(self, backoff_seconds: float, max_backoff_seconds: float | None, jitter: float) -> None:
        self.exponential = (
            tenacity.wait_exponential(multiplier=backoff_seconds)
            if max_backoff_seconds is None
            else tenacity.wait_exponential(multiplier=backoff_seconds, max=max_backoff_seconds)
        )
        self.jitter = jitter

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        """The delay before the next attempt: exponential, then stretched by up to ``jitter``."""
        delay = self.exponential(retry_state)
        if self.jitter:
            delay *= 1 + self.jitter * random.random()
        return delay


def _sleep_now(seconds: float) -> None:
    # Looked up at call time, so a test that patches time.sleep also patches the policy's waits.
    time.sleep(seconds)


def retrying(
    *,
    attempts: int,
    backoff_seconds: float,
    what: str,
    logger: logging.Logger,
    max_backoff_seconds: float | None = None,
    jitter: float = 0.0,
    transient: tuple[type[BaseException], ...] = (Exception,),
    secrets: Iterable[str | None] = (),
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` with this project's policy; call it as ``policy(fn, *args)``.

    Args:
        attempts: Tries in all (1 = no retry).
        backoff_seconds: The wait after the first failed try; doubled after each further one.
        what: What is tried, for the log line (``"connecting to 'obe' (mysql at db:3306)"``).
        logger: Where the per-attempt warning goes.
        max_backoff_seconds: Cap on one wait (before jitter); None for no cap.
        jitter: Fraction of the wait added at random (0.25: up to 25 % longer).
        transient: Exception types worth another try; anything else is raised at once.
        secrets: Values masked in the log line (a password a driver echoes back).
        sleep: How to wait; defaults to ``time.sleep`` looked up at each wait.
        on_retry: Called before each wait (counting retries).

    Returns:
        The controller. It re-raises the last exception once the attempts are spent (no
        ``RetryError``), and any :class:`PermanentError` or non-transient exception immediately.
    """
    secrets = tuple(secrets)
    wait_for = sleep or _sleep_now

    def log_failure(retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        logger.warning(
            "%s failed (attempt %d of %d): %s",
            what,
            retry_state.attempt_number,
            attempts,
            describe(exc, secrets) if exc is not None else "no result",
        )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=JitteredExponentialWait(backoff_seconds, max_backoff_seconds, jitter),
        retry=tenacity.retry_if_exception_type(transient)
        & tenacity.retry_if_not_exception_type(PermanentError),
        after=log_failure,
        before_sleep=on_retry,
        sleep=lambda seconds: wait_for(float(seconds)),  # tenacity passes a float subclass
        reraise=True,
    )
