"""A small client for Airflow 3's REST API v2, as a person clicking in the UI uses it.

Used by ``devtools/demo.py run-all`` and the end-to-end tests: log in for a token
(``POST /auth/token``), unpause and trigger a DAG without a logical date (the UI's Trigger
button, ``{"logical_date": null}``), wait for the runs, read task logs as JSON, clear a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

FINISHED = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """A REST call failed; the message names the call and Airflow's answer."""


@dataclass
class AirflowClient:
    base_url: str  # e.g. http://127.0.0.1:8080
    username: str
    password: str
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    # -- plumbing ------------------------------------------------------------------------------
    def login(self) -> str:
        """Get a JWT from the auth manager (simple auth manager: ``POST /auth/token``)."""
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise AirflowApiError(f"POST /auth/token as {self.username!r}: HTTP {response.status_code}")
        token = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs) -> Any:
        if "Authorization" not in self.session.headers:
            self.login()
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code == 401:  # token expired: log in again once
            self.login()
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code not in tuple(expect):
            raise AirflowApiError(
                f"{method} /api/v2/{path}: HTTP {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params or None)

    # -- health and DAGs -------------------------------------------------------------------------
    def health(self) -> dict | None:
        """``/api/v2/monitor/health`` (no login needed), or None while the server is not up."""
        try:
            response = self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_until_healthy(self, timeout: float, components: Iterable[str] = ("scheduler",)) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health and all((health.get(c) or {}).get("status") == "healthy" for c in components):
                return health
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow at {self.base_url} not healthy after {timeout:.0f}s: {health}")
            time.sleep(0.5)

    def dags(self) -> dict[str, dict]:
        return {d["dag_id"]: d for d in self.get("dags", limit=100)["dags"]}

    def import_errors(self) -> list[dict]:
        return self.get("importErrors", limit=100)["import_errors"]

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float) -> dict[str, dict]:
        """Wait until the DAG processor has parsed every one of ``dag_ids``; fail on import errors."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            errors = self.import_errors()
            if errors:
                text = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors)
                raise AirflowApiError(f"DAG import errors: {text}")
            dags = self.dags()
            if wanted <= dags.keys():
                return dags
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs not parsed after {timeout:.0f}s: {sorted(wanted - dags.keys())}")
            time.sleep(1)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": paused})

    # -- runs --------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict | None = None, unpause: bool = True) -> dict:
        """Trigger like the UI's Trigger button: no logical date, and unpause the DAG (the dialog's
        "Unpause on trigger" box is ticked by default; a paused DAG's runs stay queued)."""
        if unpause:
            self.set_paused(dag_id, False)
        return self.request("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", limit=100, order_by="run_after")["dag_runs"]

    def wait_for_runs(self, runs: Iterable[tuple[str, str]], timeout: float, poll: float = 2.0) -> dict:
        """Wait until every ``(dag_id, run_id)`` has finished; return ``{(dag_id, run_id): state}``."""
        pending = set(runs)
        states: dict[tuple[str, str], str] = {}
        deadline = time.monotonic() + timeout
        while pending:
            for key in sorted(pending):
                state = self.run(*key)["state"]
                if state in FINISHED:
                    states[key] = state
                    pending.discard(key)
            if not pending:
                break
            if time.monotonic() > deadline:
                unfinished = {k: self.run(*k)["state"] for k in pending}
                raise TimeoutError(f"runs not finished after {timeout:.0f}s: {unfinished}")
            time.sleep(poll)
        return states

    def wait_until_idle(self, dag_ids: Iterable[str], timeout: float, poll: float = 2.0) -> list[dict]:
        """Wait until no run of ``dag_ids`` is queued or running; return all their runs."""
        deadline = time.monotonic() + timeout
        while True:
            runs = [r for dag_id in dag_ids for r in self.runs(dag_id)]
            busy = [r for r in runs if r["state"] not in FINISHED]
            if not busy:
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"still busy after {timeout:.0f}s: {[(r['dag_id'], r['dag_run_id'], r['state']) for r in busy]}"
                )
            time.sleep(poll)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", limit=100)[
            "task_instances"
        ]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list:
        """A task's log as structured JSON records (``Accept: application/json``)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        params: dict[str, Any] = {"full_content": "true"}
        if map_index >= 0:
            params["map_index"] = map_index
        body = self.request("GET", path, params=params, headers={"Accept": "application/json"})
        return body["content"]

    def clear_run(self, dag_id: str, run_id: str) -> list[dict]:
        """Clear every task of a run, as "Clear run" in the UI: the same run runs again."""
        body = self.request(
            "POST",
            f"dags/{dag_id}/clearTaskInstances",
            json={"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
        )
        return body["task_instances"]


def log_text(records: list) -> str:
    """The JSON log records of :meth:`AirflowClient.task_log` as plain lines."""
    lines = []
    for record in records:
        if isinstance(record, dict):
            lines.append(
                " ".join(str(record.get(k, "")) for k in ("timestamp", "level", "event") if k in record)
            )
        else:
            lines.append(str(record))
    return "\n".join(lines)


FRESHNESS_DAG = "monitor_source_freshness"


def run_every_dag(
    client: AirflowClient, dag_ids: Iterable[str], timeout: float, last: Iterable[str] = (FRESHNESS_DAG,)
) -> list[dict]:
    """Trigger every DAG as a person would in the UI and wait until all their runs have finished.

    The DAGs in ``last`` (the freshness monitor) are triggered once the others are done, so they
    measure what the extractions loaded. Unpausing also lets the scheduler start each DAG's latest
    scheduled interval; those runs are waited for too. Returns every run of ``dag_ids``.
    """
    dag_ids = list(dag_ids)
    late = [d for d in dag_ids if d in set(last)]
    for batch in ([d for d in dag_ids if d not in late], late):
        if not batch:
            continue
        triggered = [(dag_id, client.trigger(dag_id)["dag_run_id"]) for dag_id in batch]
        client.wait_for_runs(triggered, timeout)
        client.wait_until_idle(batch, timeout)
    return [run for dag_id in dag_ids for run in client.runs(dag_id)]
