"""Opening connections: a server that accepts TCP but never answers must not hold a task."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.db.connections import open_dbapi

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server():
    """A loopback port that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize("conn_type", ["postgres", "mysql"])
def test_silent_server_times_out_per_attempt(silent_server, airflow_conn, monkeypatch, conn_type):
    monkeypatch.setattr("bi_pipelines.db.connections.CONNECT_BACKOFF_SECONDS", 0.01)
    airflow_conn(
        "silent_db",
        json.dumps(
            {
                "conn_type": conn_type,
                "host": "127.0.0.1",
                "port": silent_server,
                "login": "u",
                "password": "p",
                "schema": "db",
                "extra": {"connect_timeout": 1},
            }
        ),
    )
    started = time.monotonic()
    with pytest.raises(ExtractionError, match=r"cannot connect to 'silent_db'.*after 2 attempts"):
        open_dbapi("silent_db", attempts=2)
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 10, elapsed  # two attempts of about one second each
