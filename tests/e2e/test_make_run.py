"""``make run`` (``scripts/run_airflow.sh``) as a person at a terminal uses it: it comes up on
127.0.0.1, prints the login once the api-server is healthy, and one Ctrl-C stops every process it
started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from devtools.airflow_api import AirflowClient
from devtools.processes import airflow_environment, descendants, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 600  # generous: two cores, maybe shared with another test run
STOP_BOUND = 30  # the script's own grace is 15 s; SIGKILL comes after it


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if descendants(pid)]


def test_one_ctrl_c_stops_everything(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="bi-run-airflow-"))
    port = free_port()
    env = airflow_environment(
        home,
        tmp_path / "credentials",
        AIRFLOW__API__PORT=str(port),
        # Another Airflow on this machine (make run, make demo) holds the default 8793.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
    )
    env.pop("BI_METADATA_DB", None)  # SQLite, the zero-setup default
    log_path = home / "run_airflow.out"
    with open(log_path, "wb") as log:
        # A session of its own stands in for the terminal: the terminal's Ctrl-C signals the
        # foreground process group, which is the script's.
        script = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run_airflow.sh")],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tree: list[int] = []
    try:
        password_file = home / "passwords.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not (password_file.exists() and password_file.read_text().strip()):
            assert script.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        client = AirflowClient(
            f"http://127.0.0.1:{port}", "admin", json.loads(password_file.read_text())["admin"]
        )
        client.wait_until_healthy(START_TIMEOUT, ("metadatabase", "scheduler", "dag_processor", "triggerer"))
        client.login()
        deadline = time.monotonic() + 60
        while "Airflow is up" not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, (
                "no login banner once healthy:\n" + log_path.read_text()[-3000:]
            )
            time.sleep(0.5)
        output = log_path.read_text(errors="replace")
        # The login comes after Airflow's own start-up lines, and names the password.
        assert f"admin / {client.password}" in output.rsplit("Airflow is up", 1)[1]
        assert "Airflow is ready" in output.rsplit("Airflow is up", 1)[0]
        # Bound to 127.0.0.1: Airflow sees no production-like deployment to warn about.
        assert "looks like production" not in output
        assert f"Uvicorn running on http://127.0.0.1:{port}" in output

        tree = [pid for root in descendants(script.pid) for pid in descendants(root)]
        assert len(set(tree)) >= 5, f"expected standalone and its four components, got {tree}"
        started = time.monotonic()
        os.killpg(script.pid, signal.SIGINT)  # one Ctrl-C
        while _alive(tree) and time.monotonic() - started < STOP_BOUND:
            script.poll()  # reap the script, or it counts as running
            time.sleep(0.2)
        took = time.monotonic() - started
        assert not _alive(tree), (
            f"still running {STOP_BOUND}s after one SIGINT: {_alive(tree)}\n{log_path.read_text()[-3000:]}"
        )
        assert script.wait(timeout=5) == 130
        assert "Stopping Airflow" in log_path.read_text(errors="replace")
        print(f"one Ctrl-C stopped {len(set(tree))} processes in {took:.1f}s")
    finally:
        for pid in _alive(tree) or descendants(script.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        script.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
