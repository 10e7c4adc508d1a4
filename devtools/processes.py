"""Start and stop Airflow (and the demo's servers) as background process groups, and measure them.

Each component is started in its own session, so stopping it means signalling the whole group:
the scheduler's LocalExecutor workers, the log server and task processes go with it. A group that
ignores SIGTERM past the grace period gets SIGKILL, and any descendant that escaped the group is
killed by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_ENV_SCRIPT = REPO_ROOT / "scripts" / "airflow_env.sh"


def airflow_environment(home: Path, credentials_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment ``make run`` gives Airflow (``scripts/airflow_env.sh``) for ``home`` and
    ``credentials_dir``, plus ``overrides``.

    The script is sourced by bash rather than copied, so the demo and the end-to-end tests run
    with exactly the settings of a local run.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    base.update(AIRFLOW_HOME=str(home), CREDENTIALS_DIR=str(credentials_dir))
    result = subprocess.run(
        ["bash", "-c", f'source "{AIRFLOW_ENV_SCRIPT}" && env -0'],
        env=base,
        capture_output=True,
        check=True,
        timeout=30,
    )
    env = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    env.update(overrides)
    return env


@dataclass
class Service:
    """A background command in its own process group, logging to a file."""

    name: str
    command: Sequence[str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, env: dict[str, str], cwd: Path = REPO_ROOT) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                list(self.command),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.process is not None:
            stop_group(self.process.pid, grace, self.process)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (empty when it is gone)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent.pid, *(p.pid for p in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def stop_group(pgid: int, grace: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group ``pgid``, SIGKILL what is left after ``grace`` seconds."""
    tree = descendants(pgid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()  # reap the leader, or the group never looks empty
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    # Anything that left the group (a new session of its own) is still a child we started.
    for pid in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@dataclass
class MemoryReport:
    """Resident memory of process trees, per component, in MiB."""

    rss_mib: dict[str, float] = field(default_factory=dict)
    uss_mib: dict[str, float] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)

    @property
    def total_rss_mib(self) -> float:
        return round(sum(self.rss_mib.values()), 1)

    @property
    def total_uss_mib(self) -> float:
        return round(sum(self.uss_mib.values()), 1)

    def lines(self) -> list[str]:
        rows = [
            f"  {name:<16} {self.processes[name]:>2} processes  RSS {self.rss_mib[name]:7.1f} MiB"
            f"  USS {self.uss_mib[name]:7.1f} MiB"
            for name in self.rss_mib
        ]
        rows.append(
            f"  {'total':<16} {sum(self.processes.values()):>2} processes  RSS {self.total_rss_mib:7.1f} MiB"
            f"  USS {self.total_uss_mib:7.1f} MiB"
        )
        return rows


def component_of(cmdline: list[str]) -> str:
    """Which Airflow component a process belongs to, from its command line."""
    text = " ".join(cmdline)
    for marker, name in (
        ("api_server", "api-server"),
        ("api-server", "api-server"),
        ("LocalExecutor", "executor workers"),
        ("serve-logs", "log server"),
        ("dag-processor", "dag-processor"),
        ("dag_processor", "dag-processor"),
        ("triggerer", "triggerer"),
        ("scheduler", "scheduler"),
        ("standalone", "standalone"),
    ):
        if marker in text:
            return name
    return "other"


def measure_memory(roots: Iterable[int]) -> MemoryReport:
    """RSS (and USS: memory no other process shares) of the trees under ``roots``, by component.

    RSS counts pages shared between forked processes once per process, so the RSS total is an
    upper bound; USS adds up to what stopping them would free.
    """
    import psutil

    report = MemoryReport()
    seen: set[int] = set()
    for root in roots:
        for pid in descendants(root):
            if pid in seen:
                continue
            seen.add(pid)
            try:
                proc = psutil.Process(pid)
                name = component_of(proc.cmdline())
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            report.rss_mib[name] = round(report.rss_mib.get(name, 0.0) + info.rss / 2**20, 1)
            report.uss_mib[name] = round(report.uss_mib.get(name, 0.0) + info.uss / 2**20, 1)
            report.processes[name] = report.processes.get(name, 0) + 1
    return report


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
