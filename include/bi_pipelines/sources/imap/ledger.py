"""The ledger of processed report attachments: what makes the IMAP extraction exactly-once.

One row per (report, message, attachment part), written through the shared load path with
:class:`Merge` on that key, so recording an attachment again updates its row. Statuses:

- ``loaded``: the rows are in the report's table, tagged with ``_attachment_sha256``.
- ``duplicate``: the same bytes (SHA-256) were already loaded from another e-mail; nothing loaded.
- ``rejected``: not loadable as configured (``reason`` says why); nothing loaded.

Nothing depends on the mailbox's ``\\Seen`` flags: a person reading the mailbox changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields, replace

from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.publish import Merge
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse

LOADED, DUPLICATE, REJECTED = "loaded", "duplicate", "rejected"
LEDGER_KEY = ("report", "message_key", "part")
MAX_REASON_CHARS = 4000
_LOOKUP_CHUNK = 200


@dataclass(frozen=True)
class LedgerEntry:
    """One processed attachment (or, with ``part == ""``, a matching e-mail without one)."""

    report: str
    message_key: str
    part: str
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
    def key(self) -> tuple[str, str]:
        return self.message_key, self.part


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
        self.warehouse.ensure_table(self.target)

    def _select(self, where: str, params: list) -> list[LedgerEntry]:
        # A query is its own transaction: no snapshot is held open during IMAP fetches.
        rows = self.warehouse.query(f"SELECT {self._columns} FROM {self._table} WHERE {where}", params)
        return [LedgerEntry(*row) for row in rows]

    def entries(self, report: str, message_keys: Iterable[str]) -> dict[tuple[str, str], LedgerEntry]:
        """The ledger rows of ``report`` for these messages, by ``(message_key, part)``."""
        keys = sorted(set(message_keys))
        found: dict[tuple[str, str], LedgerEntry] = {}
        for chunk in iter_batches(keys, _LOOKUP_CHUNK):
            placeholders = ", ".join(["%s"] * len(chunk))
            for entry in self._select(
                f"{self.warehouse.q('report')} = %s AND {self.warehouse.q('message_key')} IN ({placeholders})",
                [report, *chunk],
            ):
                found[entry.key] = entry
        return found

    def loaded_copy(self, report: str, sha256: str, exclude: tuple[str, str]) -> LedgerEntry | None:
        """An attachment of ``report`` with these exact bytes already loaded from another message."""
        q = self.warehouse.q
        for entry in self._select(
            f"{q('report')} = %s AND {q('sha256')} = %s AND {q('status')} = %s ORDER BY {q('received_at')}",
            [report, sha256, LOADED],
        ):
            if entry.key != exclude:
                return entry
        return None

    def record(self, entry: LedgerEntry) -> None:
        """Insert or replace the entry's row (merge on report, message_key, part). Commits."""
        if entry.reason and len(entry.reason) > MAX_REASON_CHARS:
            entry = replace(entry, reason=entry.reason[: MAX_REASON_CHARS - 3] + "...")
        row = astuple(entry)
        self.warehouse.load(
            self.target,
            RowStream(tuple(c.name for c in LEDGER_COLUMNS), batches=lambda: iter([[row]])),
            Merge(LEDGER_KEY),
        )
