"""Publishing staged rows: the strategies, the publish lock and what a load reports.

Publishing runs in the transaction that staged the rows: nothing is visible until the commit,
and any failure before it leaves the target exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bi_pipelines.load.tables import POSTGRES, REDSHIFT


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


def lock_sql(dialect: str, target_sql: str) -> str:
    """The lock a publish holds: other writers wait, readers still read.

    Two loads of overlapping keys (a retry beside the next run) would both delete, then both
    insert, and one would fail on the primary key; under this lock they take turns.
    """
    if dialect == REDSHIFT:
        return f"LOCK {target_sql}"
    return f"LOCK TABLE {target_sql} IN SHARE ROW EXCLUSIVE MODE"


def delete_for(
    cur, dialect: str, strategy: Strategy, target_sql: str, staging: str, quote: Callable[[str], str]
) -> int:
    """Delete the target rows the staged rows replace; return how many."""
    if isinstance(strategy, ReplaceAll):
        # TRUNCATE is transactional on PostgreSQL but commits implicitly on Redshift.
        if dialect == POSTGRES:
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
    match = " AND ".join(f"{target_sql}.{quote(c)} = k.{quote(c)}" for c in key_columns)
    cur.execute(f"DELETE FROM {target_sql} USING {staging} k WHERE {match}")
    return cur.rowcount


__all__ = [
    "LoadResult",
    "Merge",
    "ReplaceAll",
    "ReplacePartitions",
    "Strategy",
    "delete_for",
    "lock_sql",
]
