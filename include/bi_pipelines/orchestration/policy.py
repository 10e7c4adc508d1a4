"""What every DAG of the repository shares: schedule, start date, retries, owner, alerting, timeouts.

Builders call :func:`dag_kwargs` with their parsed ``dag:`` settings so that the policy is written
once: an absolute tz-aware start date, a cron schedule with a data interval, explicit catchup,
retries with a delay, an owner, tags from :data:`TAG_VOCABULARY`, a doc, a failure callback and an
``execution_timeout`` on every task.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from bi_pipelines.core.settings import DEFAULT_EXECUTION_TIMEOUT, Dag
from bi_pipelines.core.windows import WINDOW_PARAMS_DOC
from bi_pipelines.orchestration.callbacks import log_task_failure

# Every task's bound unless the ``dag:`` section's ``execution_timeout`` says otherwise (defined
# with the settings; re-exported here). Builders shorten it where a task has a tighter budget
# (the freshness monitor), through :func:`task_timeout`.
__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "KIND_TAGS",
    "TAG_VOCABULARY",
    "dag_kwargs",
    "schedule_for",
    "task_timeout",
    "window_params",
]

# The words DAG tags may use, so that filtering by tag in the UI finds every DAG of a kind.
# Each DAG has exactly one of KIND_TAGS.
KIND_TAGS = frozenset({"extract", "monitoring"})
TAG_VOCABULARY = KIND_TAGS | frozenset(
    {
        # source systems
        "obe",
        "info-portal",
        "redshift",
        "imap",
        "vonigo",
        # technologies and data kinds
        "mysql",
        "postgres",
        "api",
        "reports",
        "freshness",
    }
)


def window_params() -> dict[str, Any]:
    """``window_start``/``window_end`` run parameters for re-running an explicit window by hand."""
    from airflow.sdk import Param

    return {
        name: Param(
            None,
            type=["null", "string"],
            title=name.replace("_", " "),
            description=WINDOW_PARAMS_DOC,
        )
        for name in ("window_start", "window_end")
    }


def schedule_for(settings: Dag):
    """The DAG's schedule: a ``CronDataIntervalTimetable`` in the DAG's own time zone.

    Each run then covers ``[data_interval_start, data_interval_end)`` (a plain cron string would
    give zero-width intervals in Airflow 3), and the cron follows daylight saving.
    """
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(settings.schedule, timezone=settings.timezone)


def task_timeout(settings: Dag, own: dt.timedelta) -> dt.timedelta:
    """A task's ``execution_timeout``: its own budget, or the DAG's setting when that is smaller."""
    return min(own, settings.execution_timeout)


def dag_kwargs(
    settings: Dag,
    doc_md: str,
    *,
    on_failure: Callable[[dict[str, Any]], None] | None = None,
    execution_timeout: dt.timedelta | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Keyword arguments for ``airflow.sdk.DAG`` built from a ``dag:`` config section.

    All but ``schedule``, which builders pass explicitly (``DAG(schedule=schedule_for(s),
    **dag_kwargs(s, doc))``) so that the linter's AIR rules see it.

    Args:
        settings: The DAG's ``dag:`` section.
        doc_md: The DAG file's docstring.
        on_failure: An extra failure callback (e.g. e-mail), run after the one every task has.
        execution_timeout: Every task's ``execution_timeout`` unless the task sets its own;
            default (and upper bound) the ``dag:`` section's ``execution_timeout``.
        **overrides: Further ``DAG`` keyword arguments (``params``).
    """
    if execution_timeout is None:
        execution_timeout = settings.execution_timeout
    execution_timeout = task_timeout(settings, execution_timeout)
    callbacks: list[Callable[[dict[str, Any]], None]] = [log_task_failure]
    if on_failure is not None:
        callbacks.append(on_failure)
    kwargs: dict[str, Any] = {
        "dag_id": settings.dag_id,
        "start_date": settings.start_date,
        "catchup": settings.catchup,
        "max_active_runs": settings.max_active_runs,
        "tags": list(settings.tags),
        "doc_md": doc_md,
        "description": settings.description or None,
        "default_args": {
            "owner": settings.owner,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "execution_timeout": execution_timeout,
            "on_failure_callback": callbacks,
        },
        "params": window_params(),
    }
    kwargs.update(overrides)
    return kwargs
