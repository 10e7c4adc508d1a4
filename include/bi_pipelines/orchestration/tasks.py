"""The task wrapper: a :class:`PermanentError` fails the task at once, everything else may retry.

Airflow retries any exception a task raises. A bad configuration, bad run params, an invalid
credentials file or a refused login cannot be fixed by waiting: retrying only delays the red
run by the retry delays (and a refused login, repeated, may lock the account). Such errors are
re-raised as ``AirflowFailException``, which Airflow does not retry, after logging the reason on
one line so it is the first thing the task log shows.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bi_pipelines.core.errors import PermanentError
from bi_pipelines.orchestration.callbacks import failure_line

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def fail_fast(fn: F) -> F:
    """Wrap a task callable so that a :class:`PermanentError` is not retried."""
    from airflow.sdk.exceptions import AirflowFailException

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PermanentError as exc:
            reason = failure_line(exc)
            log.error("%s (not retried: a retry cannot fix this)", reason)
            raise AirflowFailException(str(exc) or reason) from exc

    return wrapper  # type: ignore[return-value]


def pipeline_task(**task_kwargs: Any) -> Callable[[F], Any]:
    """``@task(**task_kwargs)`` around :func:`fail_fast`: the decorator every builder uses.

    A task's return value is one XCom (``multiple_outputs=False`` unless a builder asks
    otherwise). Airflow would otherwise unroll a callable annotated ``-> dict`` into one more XCom
    per key, each its own execution API call at the end of the task, which no task reads.
    """
    from airflow.sdk import task

    task_kwargs.setdefault("multiple_outputs", False)

    def decorate(fn: F) -> Any:
        return task(**task_kwargs)(fail_fast(fn))

    return decorate
