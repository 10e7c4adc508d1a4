"""What the Freshness page shows, read from the monitoring database: no web framework here.

Every query takes its values as parameters; the only names put into SQL are the configured
monitoring schema and tables (validated identifiers, quoted by the warehouse).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bi_pipelines.core.assets import table_asset_name, table_asset_uri
from bi_pipelines.freshness import acknowledgements as acks
from bi_pipelines.freshness.spec import FreshnessCheck, FreshnessConfig, table_key
from bi_pipelines.load.warehouse import Warehouse

TIMEZONE_ENV = "BI_FRESHNESS_UI_TIMEZONE"
DEFAULT_TIMEZONE = "America/Vancouver"
HISTORY_DAYS = (7, 30, 90)
NOT_CHECKED = "not_checked"
# The columns the page lists (of the results table, writer.COLUMN_NAMES).
LIST_COLUMNS = (
    "table_key",
    "status",
    "previous_status",
    "last_update",
    "lag_seconds",
    "warn_after_seconds",
    "error_after_seconds",
    "check_interval_seconds",
    "server_host",
    "source_conn_id",
    "db_type",
    "qualified_table",
    "checked_at",
    "error_message",
    "threshold_mode",
    "expected_next_update",
    "learned_quantile",
    "learned_samples",
    "learned_gap_seconds",
    "acknowledged_until",
    "acknowledgement",
)
HISTORY_COLUMNS = (
    "checked_at",
    "status",
    "previous_status",
    "status_changed",
    "last_update",
    "lag_seconds",
    "warn_after_seconds",
    "error_after_seconds",
    "threshold_mode",
    "expected_next_update",
    "error_message",
    "run_id",
)


def team_timezone() -> str:
    """The team's zone for local times: ``$BI_FRESHNESS_UI_TIMEZONE``, else America/Vancouver."""
    name = os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return name


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value


def _seconds(value: dt.timedelta | None) -> int | None:
    return int(value.total_seconds()) if value is not None else None


@dataclass(frozen=True)
class Asset:
    """The warehouse table a derived check's flow writes, as an Airflow asset."""

    name: str
    uri: str


def flow_assets(config_dir: Path | None = None) -> dict[str, Asset]:
    """Check key -> the asset of the warehouse table its extraction flow loads.

    A flow check's key is its *source* table (see ``checks_from_flows``); the flow copies it to
    ``target.schema``/``target_table`` on the target connection, which is what the asset names.
    """
    from bi_pipelines.sources.relational.spec import load_flows

    found = {}
    for flow in load_flows(config_dir):
        for t in flow.tables:
            key = table_key(flow.source_conn_id, t.source_schema, t.source_table)
            found[key] = Asset(
                table_asset_name(flow.target_conn_id, flow.target_schema, t.target_table),
                table_asset_uri(flow.target_conn_id, flow.target_schema, t.target_table),
            )
    return found


def _latest(wh: Warehouse, config: FreshnessConfig) -> dict[str, dict[str, Any]]:
    mon = config.monitoring
    if not wh.existing_columns(mon.schema, mon.view):
        return {}
    rows = wh.query(f"SELECT {', '.join(LIST_COLUMNS)} FROM {wh.qualified(mon.schema, mon.view)}")
    return {r[0]: dict(zip(LIST_COLUMNS, map(_json, r), strict=True)) for r in rows}


def _ack_view(
    check: FreshnessCheck, config: FreshnessConfig, db: dict[str, acks.AckRecord], at: dt.datetime
) -> dict[str, Any] | None:
    record = db.get(check.key)
    if record is not None:
        return {"source": "page", **record.to_dict()}
    yaml_ack = config.acknowledgement(check.key, at)
    if yaml_ack is not None:
        return {
            "source": "yaml",
            "table_key": check.key,
            "reason": yaml_ack.reason,
            "until": yaml_ack.until.isoformat(),
            "acknowledged_by": config.path.name,
        }
    return None


def overview(
    wh: Warehouse, config: FreshnessConfig, at: dt.datetime, assets: dict[str, Asset] | None = None
) -> list[dict[str, Any]]:
    """Every monitored table with its latest row (or ``not_checked``) and its acknowledgement."""
    latest = _latest(wh, config)
    db = acks.active_records(wh, config.monitoring, at)
    assets = assets or {}
    tables = []
    for check in config.checks:
        row = latest.get(check.key) or {
            "table_key": check.key,
            "status": NOT_CHECKED,
            "source_conn_id": check.conn_id,
            "qualified_table": check.qualified_table,
            "warn_after_seconds": _seconds(check.thresholds.warn_after),
            "error_after_seconds": _seconds(check.thresholds.error_after),
        }
        asset = assets.get(check.key)
        tables.append(
            {
                **dict.fromkeys(LIST_COLUMNS),
                **row,
                "active": check.thresholds.active,
                "origin": check.origin,
                "acknowledged": _ack_view(check, config, db, at),
                "asset": {"name": asset.name, "uri": asset.uri} if asset else None,
            }
        )
    return tables


def history(
    wh: Warehouse, config: FreshnessConfig, key: str, since: dt.datetime, limit: int = 5000
) -> list[dict[str, Any]]:
    """A table's rows checked since ``since``, oldest first (at most ``limit``, the newest)."""
    mon = config.monitoring
    if not wh.existing_columns(mon.schema, mon.table):
        return []
    rows = wh.query(
        f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {wh.qualified(mon.schema, mon.table)} "
        "WHERE table_key = %s AND checked_at >= %s ORDER BY checked_at DESC LIMIT %s",
        (key, since, limit),
    )
    return [dict(zip(HISTORY_COLUMNS, map(_json, r), strict=True)) for r in reversed(rows)]


def status_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose status differs from the row before (the first row is not a change)."""
    changes = []
    for before, row in itertools.pairwise(rows):
        if row["status"] != before["status"]:
            changes.append({"checked_at": row["checked_at"], "from": before["status"], "to": row["status"]})
    return changes
