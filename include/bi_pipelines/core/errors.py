"""Exceptions a person reads: each says what failed, where, and what to do.

Two families, decided by whether waiting and trying again can help:

- :class:`PermanentError`: bad configuration, bad run params, an invalid or missing credentials
  file or connection, a refused login. The task layer fails the task at once
  (``AirflowFailException``): a retry cannot fix it, and retrying a refused login may lock the
  account.
- everything else (:class:`ExtractionError` and driver errors): a server that is down, a dropped
  connection, a timeout. These get the retry policy (``core/retry.py``) and Airflow's retries.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A failure that no retry can fix; the task fails at once."""


class ConfigError(PermanentError, ValueError):
    """A configuration file (YAML or credentials) or a run's params are invalid."""


class SchemaError(PermanentError, ValueError):
    """A source column the warehouse cannot hold as it is.

    Either its type has no mapping, or its type changed in a way that would lose data (a
    narrowing, an incompatible kind).
    """


class ExtractionError(RuntimeError):
    """An extraction or load failed; a retry may help."""


class ConnectionNotDefined(PermanentError, ExtractionError):
    """An Airflow connection the pipeline needs is defined nowhere."""


class AuthenticationError(PermanentError, ExtractionError):
    """A source refused the login or the credentials (retrying could lock the account)."""


def root_cause(exc: BaseException | None) -> BaseException | None:
    """The :class:`PermanentError` a task raised, under the ``AirflowFailException`` raised from it.

    The task wrapper re-raises a permanent error as Airflow's own exception (``raise ... from
    exc``); failure callbacks look through it to decide what the failure was.
    """
    if exc is not None and not isinstance(exc, PermanentError) and isinstance(exc.__cause__, PermanentError):
        return exc.__cause__
    return exc
