"""The secrets backend in a real Airflow: files become connections, Airflow's own stores win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SECRET = "S3cr3t-do-not-print"


@pytest.fixture
def creds_dir(tmp_path):
    (tmp_path / "obe_mysql_creds.py").write_text(
        textwrap.dedent(
            f"""
            instance_ip = '173.194.248.216'
            database_name = 'obe_v8'
            user = 'bi'
            password = '{SECRET}'
            portal = '3306'
            """
        )
    )
    return tmp_path


def backend_env(creds) -> dict[str, str]:
    """The environment of an Airflow process whose secrets backend reads ``creds``."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__SECRETS__BACKEND": "credentials_secrets_backend.CredentialsFileSecretsBackend",
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"credentials_dir": str(creds)}),
            "CREDENTIALS_DIR": str(creds),
            "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")]),
        }
    )
    env.pop("AIRFLOW_CONN_OBE_MYSQL", None)
    return env


def airflow(args, creds, extra_env=None):
    env = {**backend_env(creds), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=180
    )


def show_connections(creds):
    """Run `make connections`' script against ``creds``."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "show_connections.py")],
        env=backend_env(creds),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_shows_the_file_as_a_connection(airflow_db, creds_dir):
    out = airflow(["connections", "get", "obe_mysql", "-o", "json"], creds_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    conn = json.loads(out.stdout)[0]
    assert (conn["conn_type"], conn["host"], conn["port"], conn["schema"], conn["login"]) == (
        "mysql",
        "173.194.248.216",
        "3306",
        "obe_v8",
        "bi",
    )


def test_environment_variable_takes_precedence(airflow_db, creds_dir):
    env_conn = json.dumps({"conn_type": "mysql", "host": "env-host", "port": 3307, "login": "env"})
    out = airflow(
        ["connections", "get", "obe_mysql", "-o", "json"], creds_dir, {"AIRFLOW_CONN_OBE_MYSQL": env_conn}
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)[0]["host"] == "env-host"


def test_ui_connection_in_metadata_db_takes_precedence(airflow_db, creds_dir):
    added = airflow(
        [
            "connections",
            "add",
            "obe_mysql",
            "--conn-type",
            "mysql",
            "--conn-host",
            "ui-host",
            "--conn-login",
            "ui",
        ],
        creds_dir,
    )
    assert added.returncode == 0, added.stderr[-2000:]
    try:
        out = airflow(["connections", "get", "obe_mysql", "-o", "json"], creds_dir)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout)[0]["host"] == "ui-host"
    finally:
        airflow(["connections", "delete", "obe_mysql"], creds_dir)
    out = airflow(["connections", "get", "obe_mysql", "-o", "json"], creds_dir)
    assert json.loads(out.stdout)[0]["host"] == "173.194.248.216"


def test_bad_file_error_reaches_the_task_without_the_secret(tmp_path, monkeypatch):
    """Airflow itself only says "not defined" for an invalid file; the pipelines say what is wrong."""
    from bi_pipelines.core.errors import ConfigError, ExtractionError
    from bi_pipelines.db.connections import open_dbapi

    (tmp_path / "obe_mysql_creds.py").write_text(
        f"instance_ip = '1.2.3.4'\npassword = '{SECRET}'\nusr = 'x'\n"
    )
    monkeypatch.setenv("CREDENTIALS_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_OBE_MYSQL", raising=False)
    with pytest.raises(ConfigError, match=r"obe_mysql_creds\.py: unknown key `usr`") as excinfo:
        open_dbapi("obe_mysql")
    assert SECRET not in str(excinfo.value)
    (tmp_path / "obe_mysql_creds.py").unlink()
    with pytest.raises(
        ExtractionError, match=r"connection 'obe_mysql' is not defined: add .*obe_mysql_creds.py"
    ):
        open_dbapi("obe_mysql")


def test_make_connections_reports_an_invalid_file(airflow_db, tmp_path):
    (tmp_path / "obe_mysql_creds.py").write_text(
        f"instance_ip = '1.2.3.4'\npassword = '{SECRET}'\nusr = 'x'\n"
    )
    out = show_connections(tmp_path)
    assert out.returncode == 1
    assert "obe_mysql              INVALID: obe_mysql_creds.py: unknown key `usr`" in out.stdout
    assert SECRET not in out.stdout + out.stderr


def test_make_connections_masks_the_password(airflow_db, creds_dir):
    out = show_connections(creds_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "obe_mysql" in out.stdout
    assert "mysql://bi:***@173.194.248.216:3306/obe_v8" in out.stdout
    assert "credentials file" in out.stdout
    assert SECRET not in out.stdout + out.stderr


def test_make_connections_reports_an_odd_file_and_still_lists_the_others(airflow_db, creds_dir):
    files = {
        "postgres_creds.py": f"username = {{[]: 'x'}}\npassword = '{SECRET}'\nhost = 'h'\ndbname = 'd'\n",
        "redshift_creds.py": f"username = 'bi'\npassword = '{SECRET}'\ncluster = 'c'\ndb_name = 'dw'\n",
        "imap_creds.py": f"imap_username = 'r@example.com'\nimap_password = '{SECRET}'\nimap_port = '²'\n",
        "vonigo_creds.py": f"username = 'api@example.com'\nraw_password = '{SECRET}'\n",
    }
    for name, text in files.items():
        (creds_dir / name).write_text(text)
    out = show_connections(creds_dir)
    assert out.returncode == 1, out.stderr[-2000:]
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert (
        "INVALID: postgres_creds.py: line 1: `username` must be a literal value"
        in lines["info_portal_postgres"]
    )
    assert "INVALID: imap_creds.py: `imap_port` must be a port number" in lines["bi_imap"]
    for conn_id in ("redshift_dw", "obe_mysql", "vonigo_api"):
        assert "://" in lines[conn_id]
        assert "***" in lines[conn_id]
    assert "Traceback" not in out.stdout + out.stderr
    assert SECRET not in out.stdout + out.stderr
