"""Assets for the warehouse tables the extraction tasks write, and the events they emit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bi_pipelines.core.assets import table_asset_name, table_asset_uri


def table_asset(conn_id: str, schema: str, table: str):
    """The ``airflow.sdk.Asset`` of one warehouse table (grouped under ``warehouse``)."""
    from airflow.sdk import Asset

    return Asset(
        name=table_asset_name(conn_id, schema, table),
        uri=table_asset_uri(conn_id, schema, table),
        group="warehouse",
    )


def record_event(context: Mapping[str, Any], asset, extra: Mapping[str, Any]) -> None:
    """Attach ``extra`` (rows written, window) to the asset event this task emits on success.

    Values are made JSON-friendly: the extra is stored in the metadata database.
    """
    context["outlet_events"][asset].extra = {k: _plain(v) for k, v in extra.items()}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
