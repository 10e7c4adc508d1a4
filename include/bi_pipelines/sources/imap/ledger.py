r"""The ledger of processed report attachments: what makes the IMAP extraction exactly-once.

One row per (report, message, attachment part, attachment), written through the shared load path
with :class:`Merge` on that key, so recording an attachment again updates its row. The message's
key is a digest of its headers, which two different e-mails can share (a scanner splitting one
job into two mails keeps Message-ID, Date, From and Subject): ``attachment_key`` -- the file's
SHA-256, or for a part never downloaded the mailbox message it is in (``uid:<folder>:<uidvalidity>:<uid>``)
-- keeps their files apart, while the same message read again keeps its one row. Statuses:

- ``loaded``: the rows are in the report's table, tagged with ``_attachment_sha256``.
- ``duplicate``: the same bytes (SHA-256) were already loaded from another e-mail; nothing loaded.
- ``rejected``: not loadable as configured (``reason`` says why); nothing loaded.

Nothing depends on the mailbox's ``\Seen`` flags: a person reading the mailbox changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, fields, replace
from typing import Any

from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.publish import Merge
from bi_pipelines.load.tables import POSTGRES, Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse

log = logging.getLogger(__name__)

LOADED, DUPLICATE, REJECTED = "loaded", "duplicate", "rejected"
LEDGER_KEY = ("report", "message_key", "part", "attachment_key")
# The key before ``attachment_key`` existed; :meth:`Ledger.ensure` migrates such tables.
LEGACY_LEDGER_KEY = ("report", "message_key", "part")
MAX_REASON_CHARS = 4000
_LOOKUP_CHUNK = 200


@dataclass(frozen=True)
class LedgerEntry:
    """One processed attachment (or, with ``part == ""``, a matching e-mail without one)."""

    report: str
    message_key: str
    part: str
    attachment_key: str
    message_id: str | None
    folder: str
    uidvalidity: int | None
    uid: int | None
    received_at: dt.datetime | None
    sent_at: dt.datetime | None
    sender: str | None
    subject: str | None
    file_name: str | None
    size_bytes: int | None
    sha256: str | None
    row_count: int
    status: str
    reason: str | None
    duplicate_of: str | None
    target_table: str
    processed_at: dt.datetime

    @property
    def key(self) -> tuple[str, str, str]:
        """The ledger's key: message key, attachment part and attachment key."""
        return self.message_key, self.part, self.attachment_key

    @property
    def mailbox_message(self) -> tuple[str, int | None, int | None]:
        """Where the message was read: folder, UIDVALIDITY and UID (unique in the mailbox)."""
        return self.folder, self.uidvalidity, self.uid


def pending_key(folder: str, uidvalidity: int | None, uid: int | None) -> str:
    """The ``attachment_key`` of a part not downloaded (or a message without a matching part)."""
    return f"uid:{folder}:{uidvalidity}:{uid}"


_TYPES = {
    "uidvalidity": "bigint",
    "uid": "bigint",
    "received_at": "timestamptz",
    "sent_at": "timestamptz",
    "size_bytes": "bigint",
    "row_count": "bigint",
    "processed_at": "timestamptz",
}
LEDGER_COLUMNS = tuple(Column(f.name, _TYPES.get(f.name, "text")) for f in fields(LedgerEntry))


def ledger_target(schema: str, table: str) -> TargetTable:
    """The ledger table's definition (created by :meth:`Ledger.ensure`)."""
    return TargetTable(schema, table, LEDGER_COLUMNS, primary_key=LEDGER_KEY)


class Ledger:
    """Reads and writes the ledger table through a :class:`Warehouse`."""

    def __init__(self, warehouse: Warehouse, schema: str, table: str):
        self.warehouse = warehouse
        self.target = ledger_target(schema, table)
        self._columns = ", ".join(warehouse.q(c.name) for c in LEDGER_COLUMNS)
        self._table = warehouse.qualified(schema, table)

    def ensure(self) -> None:
        """Create the ledger, or bring an older one to the current key. Idempotent, keeps every row.

        A ledger keyed by ``(report, message_key, part)`` gets the column ``attachment_key`` (added
        by :meth:`Warehouse.ensure_table`), filled with the row's ``sha256`` (empty when it has
        none: such rows predate the column and stay as they are), and its primary key is replaced
        by :data:`LEDGER_KEY`, all in one transaction.
        """
        self.warehouse.ensure_table(self.target)
        q = self.warehouse.q
        schema, table = self.target.schema, self.target.table
        with self.warehouse.transaction() as cur:
            cur.execute(
                f"UPDATE {self._table} SET {q('attachment_key')} = COALESCE({q('sha256')}, '') "
                f"WHERE {q('attachment_key')} IS NULL"
            )
            cur.execute(
                "SELECT tc.constraint_name, kcu.column_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
                "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
                "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = %s AND tc.table_name = %s "
                "ORDER BY kcu.ordinal_position",
                [schema, table],
            )
            rows = cur.fetchall()
            if tuple(row[1] for row in rows) == LEDGER_KEY:
                return
            if rows:
                cur.execute(f"ALTER TABLE {self._table} DROP CONSTRAINT {q(rows[0][0])}")
            if self.warehouse.dialect != POSTGRES:
                # Redshift never enforces a primary key (the Merge keeps rows unique) and cannot
                # make an added column NOT NULL: the old key, now false, is dropped, which is what
                # matters to its planner, and no new one is declared.
                log.info("%s: dropped the primary key %s", self.target, LEGACY_LEDGER_KEY)
                return
            cur.execute(f"ALTER TABLE {self._table} ALTER COLUMN {q('attachment_key')} SET NOT NULL")
            cur.execute(f"ALTER TABLE {self._table} ADD PRIMARY KEY ({', '.join(q(c) for c in LEDGER_KEY)})")
        log.info("%s: primary key is now %s", self.target, LEDGER_KEY)

    def _select(self, where: str, params: list) -> list[LedgerEntry]:
        # A query is its own transaction: no snapshot is held open during IMAP fetches.
        rows = self.warehouse.query(f"SELECT {self._columns} FROM {self._table} WHERE {where}", params)
        return [LedgerEntry(*row) for row in rows]

    def entries(self, report: str, message_keys: Iterable[str]) -> dict[tuple[str, str], list[LedgerEntry]]:
        """The ledger rows of ``report`` for these messages, by ``(message_key, part)``.

        Several rows share a ``(message_key, part)`` when different e-mails share their headers.
        """
        keys = sorted(set(message_keys))
        found: dict[tuple[str, str], list[LedgerEntry]] = {}
        for chunk in iter_batches(keys, _LOOKUP_CHUNK):
            placeholders = ", ".join(["%s"] * len(chunk))
            for entry in self._select(
                f"{self.warehouse.q('report')} = %s AND {self.warehouse.q('message_key')} IN ({placeholders})",
                [report, *chunk],
            ):
                found.setdefault((entry.message_key, entry.part), []).append(entry)
        return found

    def loaded_copy(self, report: str, sha256: str, exclude: tuple[str, str, str]) -> LedgerEntry | None:
        """An attachment of ``report`` with these exact bytes already loaded from another message."""
        q = self.warehouse.q
        for entry in self._select(
            f"{q('report')} = %s AND {q('sha256')} = %s AND {q('status')} = %s ORDER BY {q('received_at')}",
            [report, sha256, LOADED],
        ):
            if entry.key != exclude:
                return entry
        return None

    def record(self, entry: LedgerEntry, also: Callable[[Any], None] | None = None) -> None:
        """Insert or replace the entry's row (merge on :data:`LEDGER_KEY`). Commits.

        Another row of the same mailbox message and part under another ``attachment_key`` (a part
        first rejected before download, now downloaded) is the same attachment: it is deleted in
        the same transaction, so one attachment never has two rows.

        Args:
            entry: The outcome to record.
            also: Called with the transaction's cursor before the ledger row is written (the
                deletion of a file's rows that must commit with its ledger row).
        """
        if entry.reason and len(entry.reason) > MAX_REASON_CHARS:
            entry = replace(entry, reason=entry.reason[: MAX_REASON_CHARS - 3] + "...")
        row = astuple(entry)
        q = self.warehouse.q

        def before_publish(cur) -> None:
            if also is not None:
                also(cur)
            cur.execute(
                f"DELETE FROM {self._table} WHERE {q('report')} = %s AND {q('message_key')} = %s AND "
                f"{q('part')} = %s AND {q('folder')} = %s AND {q('uidvalidity')} = %s AND {q('uid')} = %s "
                f"AND {q('attachment_key')} <> %s",
                [
                    entry.report,
                    entry.message_key,
                    entry.part,
                    entry.folder,
                    entry.uidvalidity,
                    entry.uid,
                    entry.attachment_key,
                ],
            )

        self.warehouse.load(
            self.target,
            RowStream(tuple(c.name for c in LEDGER_COLUMNS), batches=lambda: iter([[row]])),
            Merge(LEDGER_KEY),
            before_publish=before_publish,
        )
