"""The warehouse (PostgreSQL or Amazon Redshift): one connection, its transactions and its loads.

Every load follows the same path, whichever source it comes from:

1. :meth:`Warehouse.ensure_table` creates the target from the source's columns when missing and
   adds columns that appeared at the source (:mod:`bi_pipelines.load.tables`).
2. :meth:`Warehouse.load` stages the rows into a temporary table (:mod:`bi_pipelines.load.staging`)
   and publishes them *in the same transaction* (:mod:`bi_pipelines.load.publish`): merge on a
   key, replace whole partitions, or replace everything. Nothing is visible until the commit;
   any failure before it rolls back and leaves the target exactly as it was.

Everything else that talks to the warehouse goes through :meth:`Warehouse.transaction` (several
statements, one commit) or :meth:`Warehouse.query` / :meth:`Warehouse.execute` (one statement).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bi_pipelines.db.identifiers import quote_pg
from bi_pipelines.db.pgcompat import is_postgres_driver, quote_ident
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import LoadResult, Strategy, delete_for, lock_sql
from bi_pipelines.load.redshift import S3Staging
from bi_pipelines.load.staging import stage_copy, stage_insert, stage_s3
from bi_pipelines.load.tables import (
    DIALECTS,
    POSTGRES,
    REDSHIFT,
    Column,
    TargetTable,
    column_type,
    evolve_statements,
    existing_columns,
)

log = logging.getLogger(__name__)


class Warehouse:
    """A DB-API connection to the warehouse plus the SQL dialect spoken there.

    Args:
        conn: An open DB-API connection with autocommit off (psycopg or redshift_connector).
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
        if dialect not in DIALECTS:
            raise ValueError(f"unknown warehouse dialect {dialect!r}")
        self._conn = conn
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
        return cls(conn, dialect, S3Staging.from_extra(extra))

    # -- transactions -------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor whose statements commit together when the block ends.

        Any exception -- ``BaseException`` included (a task killed mid-way, a ``KeyboardInterrupt``)
        -- rolls back instead and propagates. Every statement of this class runs in one of these,
        so no transaction (nor its snapshot) stays open between calls.
        """
        try:
            with self._conn.cursor() as cur:
                yield cur
            self._conn.commit()
        except BaseException:
            try:
                self._conn.rollback()
            except Exception:  # a broken connection must not hide the original error
                log.debug("rolling back the warehouse transaction failed", exc_info=True)
            raise

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one statement in its own transaction and return its rows."""
        with self.transaction() as cur:
            cur.execute(sql, params)
            return [tuple(row) for row in cur.fetchall()]

    def execute(self, sql: str, params: Any = None) -> int:
        """Run one statement in its own transaction; return the rows it affected (0 if unknown)."""
        with self.transaction() as cur:
            cur.execute(sql, params)
            return max(cur.rowcount or 0, 0)

    # -- SQL helpers ---------------------------------------------------------------------------
    def q(self, identifier: str) -> str:
        """Quote an identifier with the driver's quoting (psycopg's when the driver is psycopg)."""
        if is_postgres_driver(self._conn):
            return quote_ident(self._conn, identifier)
        return quote_pg(identifier)

    def qualified(self, schema: str, table: str) -> str:
        return f"{self.q(schema)}.{self.q(table)}"

    def column_type(self, column: Column) -> str:
        return column_type(column, self.dialect)

    def existing_columns(self, schema: str, table: str) -> list[str]:
        with self.transaction() as cur:
            return existing_columns(cur, schema, table)

    def ensure_table(self, target: TargetTable) -> tuple[str, ...]:
        """Create the target (and its schema) when missing; add new source columns. Commits.

        Returns:
            The names of columns added to an existing table.
        """
        with self.transaction() as cur:
            existing = existing_columns(cur, target.schema, target.table)
            statements, added = evolve_statements(target, existing, self.q, self.dialect)
            for statement in statements:
                cur.execute(statement)
        if added:
            log.info("%s: added column(s) that appeared at the source: %s", target, ", ".join(added))
        return tuple(added)

    # -- loading ------------------------------------------------------------------------------
    def load(
        self,
        target: TargetTable,
        stream: RowStream,
        strategy: Strategy,
        before_publish: Callable[[Any], None] | None = None,
    ) -> LoadResult:
        """Stage ``stream`` and publish it into ``target`` in one transaction.

        Args:
            target: The table to publish into; must exist (see :meth:`ensure_table`).
            stream: The rows, in the order of ``stream.columns``.
            strategy: :class:`~bi_pipelines.load.publish.Merge`, ``ReplacePartitions`` or
                ``ReplaceAll``.
            before_publish: Called with the load's cursor after staging, under the publish lock,
                before the publish statements, in the same transaction (extra deletes; tests
                inject failures here).
        """
        load_id = uuid.uuid4().hex[:12]
        staging = self.q(f"stg_{target.table[:40]}_{load_id}")
        target_sql = self.qualified(target.schema, target.table)
        all_columns = self.existing_columns(target.schema, target.table)
        missing = [c for c in stream.columns if c not in all_columns]
        if missing:
            raise ValueError(f"{target}: columns {missing} do not exist; call ensure_table first")
        with self.transaction() as cur:
            cur.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {target_sql})")
            if self.dialect == POSTGRES:
                staged = stage_copy(cur, staging, stream, self.q)
            elif self.s3_staging is not None:
                staged = stage_s3(cur, staging, stream, self.q, self.s3_staging, load_id)
            else:
                staged = stage_insert(cur, staging, stream, self.q, self.insert_batch_rows)
            cur.execute(lock_sql(self.dialect, target_sql))
            if before_publish is not None:
                before_publish(cur)
            deleted = delete_for(cur, self.dialect, strategy, target_sql, staging, self.q)
            cols = ", ".join(self.q(c) for c in all_columns)
            cur.execute(f"INSERT INTO {target_sql} ({cols}) SELECT {cols} FROM {staging}")
            inserted = cur.rowcount
            cur.execute(f"DROP TABLE {staging}")
        return LoadResult(str(target), staged, max(deleted, 0), inserted)

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # closing a broken connection must not hide the original error
            log.debug("closing the warehouse connection failed", exc_info=True)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Warehouse"]
