"""Staging and idempotent publishing into the warehouse (PostgreSQL or Amazon Redshift).

Every load follows the same path, whichever source it comes from:

1. ``ensure_table`` creates the target from the source's columns when missing and adds columns
   that appeared at the source (a column dropped at the source stays, filled with NULL).
2. ``load`` stages the rows into a temporary table -- ``COPY ... FROM STDIN`` on PostgreSQL; on
   Redshift gzip CSV files in S3 and ``COPY`` when a staging bucket is configured, else batched
   multi-row ``INSERT`` -- and publishes them *in the same transaction*: merge on a key, replace
   whole partitions, or replace everything. Nothing is visible until the commit; any failure
   before it rolls back and leaves the target exactly as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bi_pipelines.db.identifiers import quote_pg
from bi_pipelines.db.pgcompat import copy_in, is_postgres_driver, quote_ident
from bi_pipelines.load.copy_text import encode_rows

log = logging.getLogger(__name__)

POSTGRES = "postgres"
REDSHIFT = "redshift"


@dataclass(frozen=True)
class Column:
    """A warehouse column; ``type`` is a PostgreSQL type name (translated for Redshift)."""

    name: str
    type: str


@dataclass(frozen=True)
class TargetTable:
    schema: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class RowStream:
    """Rows to stage, in the order of ``columns``.

    ``batches`` yields lists of Python tuples; ``copy_chunks``, when a source can produce it
    directly (``COPY TO STDOUT``, server-side formatting), yields PostgreSQL COPY text and lets a
    PostgreSQL target skip per-row Python work.
    """

    columns: tuple[str, ...]
    batches: Callable[[], Iterator[Sequence[Sequence[Any]]]]
    copy_chunks: Callable[[], Iterator[bytes]] | None = None


@dataclass(frozen=True)
class Merge:
    """Replace target rows whose key is staged, insert the rest (upsert)."""

    key_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReplacePartitions:
    """Delete every target row whose partition value is staged, then insert the staged rows."""

    partition_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReplaceAll:
    """Full refresh: the staged rows become the table's whole content, atomically."""


Strategy = Merge | ReplacePartitions | ReplaceAll


@dataclass(frozen=True)
class LoadResult:
    target: str
    rows_staged: int
    rows_deleted: int
    rows_inserted: int
    columns_added: tuple[str, ...] = ()

    def summary(self) -> str:
        added = f", added columns {', '.join(self.columns_added)}" if self.columns_added else ""
        return (
            f"{self.target}: staged {self.rows_staged}, replaced {self.rows_deleted}, "
            f"inserted {self.rows_inserted}{added}"
        )


@dataclass(frozen=True)
class S3Staging:
    """Where Redshift loads are staged: ``s3://bucket/prefix/<load id>/part-N.csv.gz``."""

    bucket: str
    prefix: str = "airflow-staging"
    aws_conn_id: str = "aws_default"
    iam_role_arn: str | None = None
    region: str | None = None
    upload: Callable[[bytes, str, str], None] | None = field(default=None, compare=False)

    def put(self, data: bytes, key: str) -> None:
        if self.upload is not None:
            self.upload(data, self.bucket, key)
            return
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        S3Hook(aws_conn_id=self.aws_conn_id).load_bytes(data, key=key, bucket_name=self.bucket, replace=True)


_REDSHIFT_TYPES = {
    "text": "VARCHAR(65535)",
    "character varying": "VARCHAR(65535)",
    "json": "VARCHAR(65535)",
    "jsonb": "VARCHAR(65535)",
    "uuid": "CHAR(36)",
    "bytea": "VARBYTE(1024000)",
    "interval": "VARCHAR(64)",
    "numeric": "NUMERIC(38,10)",
    "time with time zone": "TIMETZ",
}


def redshift_type(pg_type: str) -> str:
    """Translate a PostgreSQL column type into the nearest Redshift type."""
    base = pg_type.lower().strip()
    if base.endswith("[]"):
        return "VARCHAR(65535)"
    return _REDSHIFT_TYPES.get(base, pg_type)


def csv_line(row: Sequence[Any]) -> str:
    """A CSV line for Redshift's ``COPY ... CSV NULL AS '\\N'``: NULL unquoted, every value quoted.

    Written by hand because the csv module cannot leave NULL unquoted beside quoted values.
    """
    out = []
    for value in row:
        if value is None:
            out.append("\\N")
            continue
        if isinstance(value, bytes | bytearray | memoryview):
            text = bytes(value).hex()
        elif isinstance(value, bool):
            text = "t" if value else "f"
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
        out.append('"' + text.replace('"', '""') + '"')
    return ",".join(out) + "\n"


class Warehouse:
    """A DB-API connection to the warehouse plus the SQL dialect spoken there.

    Args:
        conn: An open DB-API connection with autocommit off (psycopg2 or redshift_connector).
        dialect: ``"postgres"`` or ``"redshift"``.
        s3_staging: Where Redshift loads stage files; without it Redshift gets multi-row INSERTs.
        insert_batch_rows: Rows per multi-row INSERT statement (Redshift without S3).
    """

    def __init__(
        self,
        conn,
        dialect: str = POSTGRES,
        s3_staging: S3Staging | None = None,
        insert_batch_rows: int = 1000,
    ):
        if dialect not in (POSTGRES, REDSHIFT):
            raise ValueError(f"unknown warehouse dialect {dialect!r}")
        self.conn = conn
        self.dialect = dialect
        self.s3_staging = s3_staging
        self.insert_batch_rows = insert_batch_rows

    @classmethod
    def connect(cls, conn_id: str) -> Warehouse:
        """Open the warehouse behind an Airflow connection id (a ``postgres`` or ``redshift`` connection).

        A connection's extra may carry ``s3_staging_bucket``, ``s3_staging_prefix``, ``aws_conn_id``
        and ``iam_role_arn`` (Redshift COPY from S3), and ``warehouse_dialect`` to force the SQL
        dialect (a PostgreSQL server playing Redshift in tests).
        """
        from bi_pipelines.db.connections import open_dbapi

        conn, conn_type, extra = open_dbapi(conn_id)
        dialect = extra.get("warehouse_dialect") or (REDSHIFT if conn_type == "redshift" else POSTGRES)
        staging = None
        if extra.get("s3_staging_bucket"):
            staging = S3Staging(
                bucket=extra["s3_staging_bucket"],
                prefix=extra.get("s3_staging_prefix", "airflow-staging"),
                aws_conn_id=extra.get("aws_conn_id", "aws_default"),
                iam_role_arn=extra.get("iam_role_arn"),
                region=extra.get("region"),
            )
        return cls(conn, dialect, staging)

    # -- SQL helpers ---------------------------------------------------------------------------
    def q(self, identifier: str) -> str:
        """Quote an identifier with the driver's quoting (psycopg2's when the driver is psycopg2)."""
        if is_postgres_driver(self.conn):
            return quote_ident(self.conn, identifier)
        return quote_pg(identifier)

    def qualified(self, schema: str, table: str) -> str:
        return f"{self.q(schema)}.{self.q(table)}"

    def column_type(self, column: Column) -> str:
        return redshift_type(column.type) if self.dialect == REDSHIFT else column.type

    def existing_columns(self, schema: str, table: str) -> list[str]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            )
            return [r[0] for r in cur.fetchall()]

    def ensure_table(self, target: TargetTable) -> tuple[str, ...]:
        """Create the target (and its schema) when missing; add new source columns. Commits.

        Returns:
            The names of columns added to an existing table.
        """
        existing = self.existing_columns(target.schema, target.table)
        added: list[str] = []
        try:
            with self.conn.cursor() as cur:
                if not existing:
                    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(target.schema)}")
                    cols = [f"{self.q(c.name)} {self.column_type(c)}" for c in target.columns]
                    if target.primary_key:
                        cols.append(f"PRIMARY KEY ({', '.join(self.q(c) for c in target.primary_key)})")
                    cur.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.qualified(target.schema, target.table)} "
                        f"({', '.join(cols)})"
                    )
                else:
                    for column in target.columns:
                        if column.name not in existing:
                            cur.execute(
                                f"ALTER TABLE {self.qualified(target.schema, target.table)} "
                                f"ADD COLUMN {self.q(column.name)} {self.column_type(column)}"
                            )
                            added.append(column.name)
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise
        if added:
            log.info("%s: added column(s) that appeared at the source: %s", target, ", ".join(added))
        return tuple(added)

    # -- staging ------------------------------------------------------------------------------
    def _stage_copy(self, cur, staging: str, stream: RowStream) -> int:
        chunks = stream.copy_chunks() if stream.copy_chunks else encode_rows(stream.batches())
        columns = ", ".join(self.q(c) for c in stream.columns)
        return copy_in(cur, f"COPY {staging} ({columns}) FROM STDIN", chunks)

    def _stage_insert(self, cur, staging: str, stream: RowStream) -> int:
        columns = ", ".join(self.q(c) for c in stream.columns)
        row_sql = "(" + ", ".join(["%s"] * len(stream.columns)) + ")"
        staged = 0
        pending: list[Sequence[Any]] = []

        def flush():
            nonlocal staged
            if pending:
                values = ", ".join([row_sql] * len(pending))
                cur.execute(
                    f"INSERT INTO {staging} ({columns}) VALUES {values}",
                    [_insert_value(v) for row in pending for v in row],
                )
                staged += len(pending)
                pending.clear()

        for batch in stream.batches():
            for row in batch:
                pending.append(row)
                if len(pending) >= self.insert_batch_rows:
                    flush()
        flush()
        return staged

    def _stage_s3(self, cur, staging: str, stream: RowStream, load_id: str) -> int:
        s3 = self.s3_staging
        assert s3 is not None
        prefix = f"{s3.prefix.strip('/')}/{load_id}/"
        staged = 0
        part = 0
        for batch in stream.batches():
            if not batch:
                continue
            buffer = io.BytesIO()
            with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=3) as gz:
                gz.write("".join(csv_line(row) for row in batch).encode("utf-8"))
            s3.put(buffer.getvalue(), f"{prefix}part-{part:05d}.csv.gz")
            staged += len(batch)
            part += 1
        if staged:
            columns = ", ".join(self.q(c) for c in stream.columns)
            credentials = f"IAM_ROLE '{s3.iam_role_arn}'" if s3.iam_role_arn else "IAM_ROLE default"
            region = f" REGION '{s3.region}'" if s3.region else ""
            cur.execute(
                f"COPY {staging} ({columns}) FROM 's3://{s3.bucket}/{prefix}' {credentials}{region} "
                "FORMAT AS CSV GZIP NULL AS '\\\\N' TIMEFORMAT 'auto' DATEFORMAT 'auto' "
                "COMPUPDATE OFF STATUPDATE OFF"
            )
        return staged

    # -- publishing ---------------------------------------------------------------------------
    def load(
        self,
        target: TargetTable,
        stream: RowStream,
        strategy: Strategy,
        before_publish: Callable[[], None] | None = None,
    ) -> LoadResult:
        """Stage ``stream`` and publish it into ``target`` in one transaction.

        Args:
            target: The table to publish into; must exist (see :meth:`ensure_table`).
            stream: The rows, in the order of ``stream.columns``.
            strategy: :class:`Merge`, :class:`ReplacePartitions` or :class:`ReplaceAll`.
            before_publish: Called after staging, under the publish lock, before the publish
                statements, in the same transaction (extra deletes; tests inject failures here).
        """
        load_id = uuid.uuid4().hex[:12]
        staging = self.q(f"stg_{target.table[:40]}_{load_id}")
        target_sql = self.qualified(target.schema, target.table)
        all_columns = self.existing_columns(target.schema, target.table)
        missing = [c for c in stream.columns if c not in all_columns]
        if missing:
            raise ValueError(f"{target}: columns {missing} do not exist; call ensure_table first")
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {target_sql})")
                if self.dialect == POSTGRES:
                    staged = self._stage_copy(cur, staging, stream)
                elif self.s3_staging is not None:
                    staged = self._stage_s3(cur, staging, stream, load_id)
                else:
                    staged = self._stage_insert(cur, staging, stream)
                # Two loads of overlapping keys (a retry beside the next run) would both delete,
                # then both insert, and one fails on the primary key. Publishing under a lock that
                # excludes other writers (readers still read) makes them take turns.
                cur.execute(self._lock_sql(target_sql))
                if before_publish is not None:
                    before_publish()
                deleted = self._delete_for(cur, strategy, target_sql, staging)
                cols = ", ".join(self.q(c) for c in all_columns)
                cur.execute(f"INSERT INTO {target_sql} ({cols}) SELECT {cols} FROM {staging}")
                inserted = cur.rowcount
                cur.execute(f"DROP TABLE {staging}")
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return LoadResult(str(target), staged, max(deleted, 0), inserted)

    def _lock_sql(self, target_sql: str) -> str:
        if self.dialect == REDSHIFT:
            return f"LOCK {target_sql}"
        return f"LOCK TABLE {target_sql} IN SHARE ROW EXCLUSIVE MODE"

    def _delete_for(self, cur, strategy: Strategy, target_sql: str, staging: str) -> int:
        if isinstance(strategy, ReplaceAll):
            # TRUNCATE is transactional on PostgreSQL but commits implicitly on Redshift.
            if self.dialect == POSTGRES:
                cur.execute(f"SELECT count(*) FROM {target_sql}")
                count = cur.fetchone()[0]
                cur.execute(f"TRUNCATE {target_sql}")
                return count
            cur.execute(f"DELETE FROM {target_sql}")
            return cur.rowcount
        key_columns = strategy.key_columns if isinstance(strategy, Merge) else strategy.partition_columns
        if not key_columns:
            raise ValueError("a merge or partition replace needs at least one key column")
        # A target row matched by several staged rows is still deleted once: no DISTINCT needed.
        match = " AND ".join(f"{target_sql}.{self.q(c)} = k.{self.q(c)}" for c in key_columns)
        cur.execute(f"DELETE FROM {target_sql} USING {staging} k WHERE {match}")
        return cur.rowcount

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a broken connection must not hide the original error
            log.debug("closing the warehouse connection failed", exc_info=True)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _insert_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def iter_batches(rows: Iterable[Sequence[Any]], size: int = 10_000) -> Iterator[list[Sequence[Any]]]:
    """Group an iterable of rows into lists of at most ``size`` rows."""
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "POSTGRES",
    "REDSHIFT",
    "Column",
    "LoadResult",
    "Merge",
    "ReplaceAll",
    "ReplacePartitions",
    "RowStream",
    "S3Staging",
    "Strategy",
    "TargetTable",
    "Warehouse",
    "csv_line",
    "iter_batches",
    "redshift_type",
]
