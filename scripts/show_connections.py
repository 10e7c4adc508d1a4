"""Show the five source connections as Airflow resolves them, with secrets masked.

Usage: make connections   (or: python scripts/show_connections.py)
For each id it says where the connection comes from (an AIRFLOW_CONN_* variable, the metadata
database / UI, or a credentials file) and prints it with the password replaced by ***.
"""

from __future__ import annotations

import os
import sys

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.credentials import CREDENTIAL_FILES, credentials_dir, load_connection


def source_of(conn_id: str) -> str:
    if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return f"environment variable AIRFLOW_CONN_{conn_id.upper()}"
    try:
        from airflow.secrets.metastore import MetastoreBackend

        if MetastoreBackend().get_connection(conn_id) is not None:
            return "Airflow metadata database (UI / airflow connections add)"
    except Exception:
        pass
    return f"credentials file {credentials_dir() / CREDENTIAL_FILES[conn_id].filename}"


def main() -> int:
    # A server-side tool, like `airflow connections get`: core's lookup sees the metadata DB,
    # the Task SDK's (outside a task) does not.
    from airflow.models import Connection

    failed = False
    for conn_id in CREDENTIAL_FILES:
        try:
            conn = Connection.get_connection_from_secrets(conn_id)  # noqa: AIR311
        except ConfigError as exc:
            print(f"{conn_id:<22} INVALID: {exc}")
            failed = True
            continue
        except Exception:
            try:  # Airflow reports an invalid file as "not defined": say what is wrong with it
                load_connection(conn_id)
            except ConfigError as exc:
                print(f"{conn_id:<22} INVALID: {exc}")
                failed = True
                continue
            except Exception as exc:  # one unreadable file must not hide the other connections
                filename = CREDENTIAL_FILES[conn_id].filename
                print(f"{conn_id:<22} INVALID: {filename}: could not be read ({type(exc).__name__})")
                failed = True
                continue
            print(
                f"{conn_id:<22} not defined (no {CREDENTIAL_FILES[conn_id].filename} and no Airflow connection)"
            )
            continue
        password = "***" if conn.password else "(empty)"
        print(
            f"{conn_id:<22} {conn.conn_type}://{conn.login or ''}:{password}@{conn.host}:{conn.port}/{conn.schema or ''}"
            f"  extra={conn.extra_dejson}  <- {source_of(conn_id)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
