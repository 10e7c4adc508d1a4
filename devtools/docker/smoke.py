"""The checks `make test-docker` runs against a started compose stack (devtools/docker/test_docker.sh).

Waits (bounded) until every service is healthy and ``airflow-init`` exited 0, logs in through
the REST API on the published port (``POST /auth/token``), triggers every DAG without a logical
date, waits for every run to succeed, reads a task log, checks the freshness table with psql in
the ``demo-postgres`` container and, with ``--workers N``, that N Celery workers ran tasks (the
task instances' ``hostname``). Timings go to the summary file.

    python devtools/docker/smoke.py --compose "docker compose -f ... --profile demo" \\
        --api http://127.0.0.1:8080 --username admin --password ... --summary summary.txt
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devtools.airflow_api import AirflowClient, log_text, run_every_dag  # noqa: E402

DAG_IDS = sorted(p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))
ONE_SHOT = {"airflow-init"}
FRESHNESS_SQL = "SELECT status, count(*) FROM monitoring.source_table_freshness_latest GROUP BY 1 ORDER BY 1"


def log(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stack:
    """``docker compose`` with the project's files, profiles and generated .env."""

    def __init__(self, command: str) -> None:
        self.command = shlex.split(command)

    def run(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
        return result.stdout

    def containers(self) -> list[dict]:
        """Every container of the stack with its service, state, health and exit code."""
        out = self.run("ps", "--all", "--format", "json")
        # Compose prints one JSON object per line (older releases: one JSON list).
        text = out.strip()
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def services(self) -> list[str]:
        return self.run("config", "--services").split()


def wait_until_healthy(stack: Stack, timeout: float) -> float:
    """Seconds until every long-running service is healthy and the one-shot ones exited 0."""
    started = time.monotonic()
    expected = set(stack.services())
    last = ""
    while True:
        containers = stack.containers()
        problems = []
        for name in sorted(expected - {c["Service"] for c in containers}):
            problems.append(f"{name}: no container")
        for c in containers:
            service, state, health = c["Service"], c["State"], c.get("Health", "")
            if service in ONE_SHOT:
                if state == "exited" and c.get("ExitCode") != 0:
                    raise RuntimeError(f"{service} exited with status {c.get('ExitCode')}")
                if state != "exited":
                    problems.append(f"{service}: {state}")
            elif health != "healthy":
                problems.append(f"{c['Name']}: {state}/{health or 'no health'}")
        elapsed = time.monotonic() - started
        if not problems:
            return elapsed
        summary = ", ".join(problems)
        if summary != last:
            log(f"waiting ({elapsed:.0f}s): {summary}")
            last = summary
        if elapsed > timeout:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {summary}")
        time.sleep(5)


def check_runs(client: AirflowClient, dag_ids: list[str], timeout: float) -> list[dict]:
    runs = run_every_dag(client, dag_ids, timeout)
    failed = [(r["dag_id"], r["dag_run_id"], r["state"]) for r in runs if r["state"] != "success"]
    if failed:
        raise RuntimeError(f"runs not green: {failed}")
    log(f"{len(runs)} runs green: " + ", ".join(sorted({r["dag_id"] for r in runs})))
    return runs


def check_task_log(client: AirflowClient, run: dict) -> None:
    tasks = client.task_instances(run["dag_id"], run["dag_run_id"])
    task = next(t for t in tasks if t["state"] == "success")
    text = log_text(client.task_log(run["dag_id"], run["dag_run_id"], task["task_id"], task["try_number"]))
    if not text.strip():
        raise RuntimeError(f"empty log for {run['dag_id']}.{task['task_id']}")
    log(f"task log of {run['dag_id']}.{task['task_id']}: {len(text.splitlines())} lines")


def hostnames(client: AirflowClient, runs: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        for task in client.task_instances(run["dag_id"], run["dag_run_id"]):
            if task.get("hostname"):
                counts[task["hostname"]] = counts.get(task["hostname"], 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compose", required=True, help="the docker compose command line, quoted")
    parser.add_argument("--api", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--started", type=float, default=time.time(), help="epoch seconds of `up`")
    parser.add_argument("--label", default="stack")
    parser.add_argument("--scope", choices=("full", "reduced"), default="full")
    parser.add_argument("--workers", type=int, default=0, help="Celery workers that must have run tasks")
    parser.add_argument("--summary", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args(argv)

    def note(line: str) -> None:
        log(line)
        if args.summary:
            with args.summary.open("a") as summary:
                summary.write(f"[{args.label}] {line}\n")

    stack = Stack(args.compose)
    wait_until_healthy(stack, args.timeout)
    note(f"every service healthy, airflow-init exited 0: {time.time() - args.started:.0f} s after `up`")

    client = AirflowClient(args.api, args.username, args.password)
    client.login()
    client.wait_for_dags(DAG_IDS, args.timeout)
    errors = client.import_errors()
    if errors:
        raise RuntimeError(f"DAG import errors: {errors}")
    dag_ids = DAG_IDS if args.scope == "full" else [d for d in DAG_IDS if d == "extract_bi_imap"]
    triggered = time.time()
    runs = check_runs(client, dag_ids, args.timeout)
    note(f"{len(runs)} runs of {len(dag_ids)} DAGs green in {time.time() - triggered:.0f} s")
    check_task_log(client, next(r for r in runs if r["dag_id"] == dag_ids[0]))
    if "monitor_source_freshness" in dag_ids:
        rows = stack.run(
            "exec",
            "-T",
            "demo-postgres",
            "psql",
            "-U",
            "postgres",
            "-d",
            "bi_demo_warehouse",
            "-At",
            "-F",
            " ",
            "-c",
            FRESHNESS_SQL,
        )
        statuses = dict(line.split() for line in rows.split("\n") if line.strip())
        note(f"freshness table: {statuses}")
        if not statuses or set(statuses) - {"pass", "warn"}:
            raise RuntimeError(f"freshness rows not all pass/warn: {statuses}")
    if args.workers:
        counts = hostnames(client, runs)
        note(f"task instances per host: {counts}")
        if len(counts) < args.workers:
            raise RuntimeError(f"expected tasks on {args.workers} workers, saw {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
