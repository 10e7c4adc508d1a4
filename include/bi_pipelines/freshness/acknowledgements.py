"""Acknowledgements made from the Freshness page, kept in the monitoring database with their history.

``monitoring.freshness_acknowledgements`` has one row per acknowledgement: who made it and when,
why, until when, and -- once withdrawn -- who withdrew it and when. Rows are never deleted, so
the table is the audit trail of every silenced alert. An acknowledgement is *active* while it is
not revoked and ``until`` is still ahead.

They add to the ``acknowledgements:`` of ``freshness.yaml``, which keep working unchanged: the
monitor asks :func:`active_acknowledgements` for the database ones and merges them with
:func:`with_acknowledgements` before it decides what alerts and what turns the run red.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.freshness.spec import Acknowledgement, FreshnessConfig, MonitoringSettings
from bi_pipelines.load.warehouse import Warehouse

TABLE = "freshness_acknowledgements"
COLUMNS = (
    "ack_id",
    "table_key",
    "reason",
    "until",
    "acknowledged_by",
    "acknowledged_at",
    "revoked_by",
    "revoked_at",
)
MAX_REASON = 1000


@dataclass(frozen=True)
class AckRecord:
    """One row of the acknowledgements table."""

    ack_id: str
    table_key: str
    reason: str
    until: dt.datetime
    acknowledged_by: str
    acknowledged_at: dt.datetime
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None

    def active(self, at: dt.datetime) -> bool:
        """Whether it holds at ``at``: not withdrawn, and ``at`` before its end."""
        return self.revoked_at is None and at < self.until

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (instants in ISO 8601)."""
        return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in asdict(self).items()}


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _record(row: Iterable[Any]) -> AckRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    for name in ("until", "acknowledged_at", "revoked_at"):
        values[name] = _aware(values[name])
    return AckRecord(**values)


def qualified(wh: Warehouse, settings: MonitoringSettings) -> str:
    """The acknowledgements table, quoted, in the monitoring schema."""
    return wh.qualified(settings.schema, TABLE)


def exists(wh: Warehouse, settings: MonitoringSettings) -> bool:
    """Whether anybody has acknowledged anything yet (the table is created on first use)."""
    return bool(wh.existing_columns(settings.schema, TABLE))


def ensure_table(wh: Warehouse, settings: MonitoringSettings) -> None:
    """Create the schema and the acknowledgements table if missing. Idempotent; commits.

    Plain types only (``text``, ``timestamptz``): the same DDL works on PostgreSQL and Redshift.
    """
    with wh.transaction() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {wh.q(settings.schema)}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {qualified(wh, settings)} ("
            "ack_id varchar(36) NOT NULL PRIMARY KEY, table_key varchar(1024) NOT NULL, "
            "reason varchar(4000) NOT NULL, until timestamptz NOT NULL, "
            "acknowledged_by varchar(256) NOT NULL, acknowledged_at timestamptz NOT NULL, "
            "revoked_by varchar(256), revoked_at timestamptz)"
        )


def acknowledge(
    wh: Warehouse,
    settings: MonitoringSettings,
    *,
    table_key: str,
    reason: str,
    until: dt.datetime,
    by: str,
    at: dt.datetime,
) -> AckRecord:
    """Record an acknowledgement; the table's earlier active ones are revoked by the same person.

    One active acknowledgement per table keeps the page and the alerts unambiguous: the newest
    decision is the one that holds.

    Raises:
        ConfigError: an empty or overlong reason, or an ``until`` that is not after ``at``.
    """
    reason = reason.strip()
    if not reason:
        raise ConfigError("say why the table is acknowledged")
    if len(reason) > MAX_REASON:
        raise ConfigError(f"the reason is {len(reason)} characters long; keep it under {MAX_REASON}")
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    if until <= at:
        raise ConfigError(f"until ({until.isoformat()}) must be in the future")
    ensure_table(wh, settings)
    record = AckRecord(str(uuid.uuid4()), table_key, reason, until, by, at)
    table = qualified(wh, settings)
    with wh.transaction() as cur:
        cur.execute(
            f"UPDATE {table} SET revoked_by = %s, revoked_at = %s "
            "WHERE table_key = %s AND revoked_at IS NULL AND until > %s",
            (by, at, table_key, at),
        )
        cur.execute(
            f"INSERT INTO {table} (ack_id, table_key, reason, until, acknowledged_by, acknowledged_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (record.ack_id, table_key, reason, until, by, at),
        )
    return record


def revoke(wh: Warehouse, settings: MonitoringSettings, *, table_key: str, by: str, at: dt.datetime) -> int:
    """Withdraw the table's active acknowledgements (the rows stay, marked revoked). Commits.

    Returns:
        How many were withdrawn (0 when none was active).
    """
    if not exists(wh, settings):
        return 0
    return wh.execute(
        f"UPDATE {qualified(wh, settings)} SET revoked_by = %s, revoked_at = %s "
        "WHERE table_key = %s AND revoked_at IS NULL AND until > %s",
        (by, at, table_key, at),
    )


def records(
    wh: Warehouse, settings: MonitoringSettings, table_key: str | None = None, limit: int = 200
) -> list[AckRecord]:
    """The acknowledgements, newest first; of one table when ``table_key`` is given."""
    if not exists(wh, settings):
        return []
    where, params = ("WHERE table_key = %s ", (table_key, limit)) if table_key else ("", (limit,))
    rows = wh.query(
        f"SELECT {', '.join(COLUMNS)} FROM {qualified(wh, settings)} {where}"
        "ORDER BY acknowledged_at DESC, ack_id LIMIT %s",
        params,
    )
    return [_record(r) for r in rows]


def active_records(wh: Warehouse, settings: MonitoringSettings, at: dt.datetime) -> dict[str, AckRecord]:
    """The active acknowledgement of each table that has one (the newest, should there be several)."""
    if not exists(wh, settings):
        return {}
    rows = wh.query(
        f"SELECT {', '.join(COLUMNS)} FROM {qualified(wh, settings)} "
        "WHERE revoked_at IS NULL AND until > %s ORDER BY acknowledged_at DESC, ack_id",
        (at,),
    )
    found: dict[str, AckRecord] = {}
    for row in rows:
        record = _record(row)
        found.setdefault(record.table_key, record)
    return found


def active_acknowledgements(
    wh: Warehouse, settings: MonitoringSettings, at: dt.datetime
) -> dict[str, Acknowledgement]:
    """The acknowledgements made from the page that hold at ``at``, by table key.

    No table yet (nobody has acknowledged anything) means none. The reason is prefixed with who
    made it, so an alert e-mail or a results row says whom to ask.
    """
    return {
        key: Acknowledgement.model_validate(
            {"table": key, "until": r.until, "reason": f"{r.reason} (acknowledged by {r.acknowledged_by})"}
        )
        for key, r in active_records(wh, settings, at).items()
    }


def with_acknowledgements(config: FreshnessConfig, extra: dict[str, Acknowledgement]) -> FreshnessConfig:
    """``config`` with ``extra`` in front of its YAML acknowledgements.

    The page's acknowledgement of a table is found first, so the newest decision is shown; a
    YAML acknowledgement still silences its table while it lasts (it can only be ended in YAML).
    """
    if not extra:
        return config
    return config.model_copy(update={"acknowledgements": (*extra.values(), *config.acknowledgements)})
