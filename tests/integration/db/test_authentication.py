"""A refused login against the real local servers: one attempt, then a permanent error.

MariaDB checks passwords, so a user with a password and a wrong one give the real error 1045.
The local PostgreSQL trusts every connection from 127.0.0.1 (any password is accepted), so there
the refusal comes from an unknown role (the server's own ``FATAL: role ... does not exist``,
SQLSTATE 28000), through psycopg and through the Redshift hook's redshift_connector. libpq's
28P01 text for a wrong password is produced by libpq itself, talking to a one-shot server that
asks for a password and refuses it as PostgreSQL does.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
import threading
import uuid
import warnings

import MySQLdb
import psycopg2
import pytest

from bi_pipelines.core.errors import AuthenticationError, PermanentError
from bi_pipelines.db import hooks
from bi_pipelines.db.connections import open_dbapi
from tests.support.databases import MYSQL_HOST, MYSQL_PORT, MYSQL_USER, PG_HOST, PG_PORT, PG_USER

pytestmark = [
    pytest.mark.integration,
    # Refused logins through redshift_connector leave its socket to the garbage collector (see
    # below); in this module only, that is the driver's, not ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _collect_refused_driver_sockets():
    """redshift_connector leaves its socket open when the server refuses the login (it raises from
    inside ``Connection.__init__``, before anything could close it). Collect such sockets after
    each test here, so their ResourceWarning is not reported against whichever test runs next."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


WRONG = "wrong-pw-" + uuid.uuid4().hex[:8]


@pytest.fixture
def connects(monkeypatch):
    """Counts the connects ``open_dbapi`` makes."""
    calls: list[str] = []
    real = hooks.connect

    def counting(conn_type, conn_id, airflow_conn=None):
        calls.append(conn_id)
        return real(conn_type, conn_id, airflow_conn)

    monkeypatch.setattr(hooks, "connect", counting)
    monkeypatch.setattr("bi_pipelines.db.connections.CONNECT_BACKOFF_SECONDS", 0.01)
    return calls


def _conn(conn_type, host, port, login, password, schema, **extra) -> str:
    return json.dumps(
        {
            "conn_type": conn_type,
            "host": host,
            "port": port,
            "login": login,
            "password": password,
            "schema": schema,
            "extra": extra,
        }
    )


@pytest.fixture
def mysql_user():
    """A MariaDB user with a password, dropped afterwards."""
    name, password = f"bi_auth_{uuid.uuid4().hex[:8]}", "right-pw-" + uuid.uuid4().hex[:8]
    admin = MySQLdb.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER)
    try:
        with contextlib.closing(admin.cursor()) as cur:
            for host in ("localhost", "127.0.0.1"):
                cur.execute(f"CREATE USER '{name}'@'{host}' IDENTIFIED BY %s", (password,))
        yield name, password
    finally:
        with contextlib.closing(admin.cursor()) as cur:
            for host in ("localhost", "127.0.0.1"):
                cur.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
        admin.close()


def test_mariadb_wrong_password_is_one_attempt_and_permanent(mysql_user, airflow_conn, connects):
    name, password = mysql_user
    airflow_conn("auth_db", _conn("mysql", MYSQL_HOST, MYSQL_PORT, name, password, ""))
    conn, _, _ = open_dbapi("auth_db")  # the right password works: the user is real
    conn.close()

    airflow_conn("auth_db", _conn("mysql", MYSQL_HOST, MYSQL_PORT, name, WRONG, ""))
    connects.clear()
    with pytest.raises(
        AuthenticationError, match=r"'auth_db' \(mysql at 127\.0\.0\.1:\d+\) refused the login"
    ) as info:
        open_dbapi("auth_db", attempts=3)
    assert connects == ["auth_db"]
    assert isinstance(info.value, PermanentError)
    assert "Access denied" in str(info.value)
    assert WRONG not in str(info.value)


def _pg_trusts_local() -> bool:
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' ORDER BY line_number")
            return [r[0] for r in cur.fetchall()][:1] == ["trust"]
    finally:
        conn.close()


@pytest.fixture
def pg_role():
    """A PostgreSQL role with a password, dropped afterwards."""
    name, password = f"bi_auth_{uuid.uuid4().hex[:8]}", "right-pw-" + uuid.uuid4().hex[:8]
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD %s', (password,))
        yield name, password
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{name}"')
        admin.close()


def test_postgres_wrong_password(pg_role, airflow_conn, connects):
    name, _ = pg_role
    airflow_conn("auth_db", _conn("postgres", PG_HOST, PG_PORT, name, WRONG, "postgres"))
    if _pg_trusts_local():
        # Trust authentication: the server never asks for the password, so a wrong one connects.
        conn, _, _ = open_dbapi("auth_db")
        conn.close()
        assert connects == ["auth_db"]
        return
    with pytest.raises(AuthenticationError, match="password authentication failed"):
        open_dbapi("auth_db", attempts=3)
    assert connects == ["auth_db"]


@pytest.mark.parametrize("conn_type", ["postgres", "redshift"])
def test_postgres_unknown_role_is_one_attempt_and_permanent(airflow_conn, connects, conn_type):
    role = f"bi_nobody_{uuid.uuid4().hex[:8]}"
    # redshift_connector speaks PostgreSQL's protocol; the local server has no SSL.
    extra = {"ssl": False} if conn_type == "redshift" else {}
    airflow_conn("auth_db", _conn(conn_type, PG_HOST, PG_PORT, role, WRONG, "postgres", **extra))
    with pytest.raises(AuthenticationError, match=rf'role "{role}" does not exist') as info:
        open_dbapi("auth_db", attempts=3)
    assert connects == ["auth_db"]
    assert WRONG not in str(info.value)
    assert f"'auth_db' ({conn_type} at 127.0.0.1:{PG_PORT})" in str(info.value)


@pytest.fixture
def refusing_pg_server():
    """A port that speaks PostgreSQL's startup protocol: asks for a password, refuses it (28P01)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(10)
    done = threading.Event()

    def read_message(sock, typed: bool) -> bytes:
        head = sock.recv(5 if typed else 4, socket.MSG_WAITALL)
        length = struct.unpack("!I", head[-4:])[0]
        return head + sock.recv(length - 4, socket.MSG_WAITALL)

    def serve():
        while not done.is_set():
            try:
                sock, _ = server.accept()
            except OSError:
                continue
            with sock:
                startup = read_message(sock, typed=False)
                while struct.unpack("!I", startup[4:8])[0] in (80877103, 80877104):  # SSL/GSS requests
                    sock.sendall(b"N")
                    startup = read_message(sock, typed=False)
                user = startup[8:].split(b"\0")[1].decode()
                sock.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
                read_message(sock, typed=True)
                fields = (
                    b"".join(
                        code + text.encode() + b"\0"
                        for code, text in [
                            (b"S", "FATAL"),
                            (b"V", "FATAL"),
                            (b"C", "28P01"),
                            (b"M", f'password authentication failed for user "{user}"'),
                        ]
                    )
                    + b"\0"
                )
                sock.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    server.close()
    thread.join(timeout=15)


def test_libpq_password_refusal_is_one_attempt_and_permanent(refusing_pg_server, airflow_conn, connects):
    airflow_conn("auth_db", _conn("postgres", "127.0.0.1", refusing_pg_server, "bi_user", WRONG, "postgres"))
    with pytest.raises(
        AuthenticationError, match='password authentication failed for user "bi_user"'
    ) as info:
        open_dbapi("auth_db", attempts=3)
    assert connects == ["auth_db"]
    assert WRONG not in str(info.value)
