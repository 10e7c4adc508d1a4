"""Names of the warehouse tables as Airflow Assets, shared by the DAGs and the freshness monitor.

Every extraction task declares the tables it writes as outlets, so downstream DAGs (a dbt build,
say) can be scheduled on the data, and the Assets view shows which DAG feeds which table. The
URI uses a private ``x-`` scheme (Airflow leaves such URIs as written): the warehouse's
connection id, schema and table, never a host or a credential.
"""

from __future__ import annotations

from urllib.parse import quote

SCHEME = "x-bi-warehouse"


def table_asset_uri(conn_id: str, schema: str, table: str) -> str:
    """``x-bi-warehouse://<conn_id>/<schema>/<table>``, each part percent-encoded."""
    return f"{SCHEME}://{quote(conn_id, safe='')}/{quote(schema, safe='')}/{quote(table, safe='')}"


def table_asset_name(conn_id: str, schema: str, table: str) -> str:
    """The asset's human name, ``<schema>.<table>`` on its connection: ``redshift_dw:raw_obe.bookings``."""
    return f"{conn_id}:{schema}.{table}"
