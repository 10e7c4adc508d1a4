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


class ExtractionError(RuntimeError):
    """An extraction or load failed; a retry may help."""


class ConnectionNotDefined(PermanentError, ExtractionError):
    """An Airflow connection the pipeline needs is defined nowhere."""


class AuthenticationError(PermanentError, ExtractionError):
    """A source refused the login or the credentials (retrying could lock the account)."""
