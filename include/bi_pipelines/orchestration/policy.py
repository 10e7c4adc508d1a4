"""What every DAG of the repository shares: schedule, start date, retries, owner, window params.

DAG files call :func:`dag_kwargs` with their parsed ``dag:`` settings so that the policy
(absolute tz-aware start date, cron schedule with a data interval, explicit catchup, retries
with a delay, owner, tags, doc) is written once.
"""

from __future__ import annotations

from typing import Any

from bi_pipelines.core.settings import Dag
from bi_pipelines.core.windows import WINDOW_PARAMS_DOC


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
    """The DAG's schedule: a :class:`CronDataIntervalTimetable` in the DAG's own time zone.

    Each run then covers ``[data_interval_start, data_interval_end)`` (a plain cron string would
    give zero-width intervals in Airflow 3), and the cron follows daylight saving.
    Pass it explicitly: ``DAG(schedule=schedule_for(s), **dag_kwargs(s, __doc__))``.
    """
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(settings.schedule, timezone=settings.timezone)


def dag_kwargs(settings: Dag, doc_md: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``airflow.sdk.DAG``/``@dag`` built from a ``dag:`` config section,
    all but ``schedule`` (see :func:`schedule_for`), which DAG files pass explicitly."""
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
        },
        "params": window_params(),
    }
    kwargs.update(overrides)
    return kwargs
