"""Report e-mails in the BI mailbox -> warehouse tables, exactly once.

For one configured report and one window, :func:`extract_report`:

1. opens the mailbox (connection ``bi_imap``) with imapclient over IMAPS and ``EXAMINE``s the
   report's folder (read-only), so no flag can change;
2. searches ``SINCE``/``BEFORE`` on the whole days around the window (IMAP dates have no time),
   then keeps messages whose INTERNALDATE falls exactly in ``[window.start, window.end)``;
3. reads only headers and ``BODYSTRUCTURE`` for those, matches sender and subject, and picks the
   attachment parts whose decoded file name matches;
4. for each part not yet in the ledger, fetches just that part with ``BODY.PEEK[<section>]``,
   decodes it, hashes it, recognises a file already loaded from another e-mail, parses and types
   it, loads it with ``ReplacePartitions(("_attachment_sha256",))`` -- processing it again
   replaces its rows -- and records the outcome in the ledger.

A malformed attachment is *rejected* (recorded with its reason) and processing goes on; only
mailbox or warehouse failures raise. The summary says what was loaded, skipped and rejected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bi_pipelines.core.windows import Window
from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.publish import ReplacePartitions
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.imap.ledger import DUPLICATE, LOADED, REJECTED, Ledger, LedgerEntry
from bi_pipelines.sources.imap.mailbox import (
    ImapSettings,
    ReportMessage,
    connect_imap,
    examine,
    find_messages,
    logout,
)
from bi_pipelines.sources.imap.mime import (
    AttachmentPart,
    TransferDecodeError,
    decode_transfer,
)
from bi_pipelines.sources.imap.parsing import RejectedAttachment, parse_attachment
from bi_pipelines.sources.imap.spec import ImapReportsConfig, ReportSpec

log = logging.getLogger(__name__)

SKIPPED = "skipped"
PARTITION_COLUMN = "_attachment_sha256"
META_COLUMNS = (
    Column(PARTITION_COLUMN, "text"),
    Column("_row_number", "bigint"),
    Column("_message_id", "text"),
    Column("_received_at", "timestamptz"),
    Column("_file_name", "text"),
)


# -- outcomes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentOutcome:
    """What happened to one attachment (or one matching e-mail without a matching attachment)."""

    message_id: str | None
    received_at: dt.datetime | None
    part: str
    file_name: str | None
    status: str  # loaded, duplicate, rejected or skipped (already in the ledger)
    rows: int = 0
    reason: str | None = None

    def line(self) -> str:
        what = f"{self.file_name!r}" if self.file_name else "(no attachment)"
        detail = f": {self.reason}" if self.reason else ""
        rows = f", {self.rows} rows" if self.status == LOADED else ""
        return (
            f"{self.status.upper()} {what} from {self.message_id or '(no Message-ID)'} received "
            f"{self.received_at.isoformat() if self.received_at else '?'}{rows}{detail}"
        )


@dataclass
class ReportSummary:
    """The result of one report's run: small enough for XCom and a log line per attachment."""

    report: str
    target: str
    folder: str
    window: str
    messages_in_window: int = 0
    messages_matched: int = 0
    outcomes: list[AttachmentOutcome] = field(default_factory=list)
    fail_on_rejected: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows for o in self.outcomes if o.status == LOADED)

    @property
    def should_fail(self) -> bool:
        return self.fail_on_rejected and self.count(REJECTED) > 0

    def headline(self) -> str:
        return (
            f"{self.report}: {self.messages_matched} matching e-mail(s) of {self.messages_in_window} in "
            f"{self.folder!r} {self.window}; loaded {self.count(LOADED)} attachment(s) "
            f"({self.rows_loaded} rows) into {self.target}, duplicate {self.count(DUPLICATE)}, "
            f"rejected {self.count(REJECTED)}, already processed {self.count(SKIPPED)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "target": self.target,
            "folder": self.folder,
            "window": self.window,
            "messages_in_window": self.messages_in_window,
            "messages_matched": self.messages_matched,
            "loaded": self.count(LOADED),
            "duplicate": self.count(DUPLICATE),
            "rejected": self.count(REJECTED),
            "skipped": self.count(SKIPPED),
            "rows_loaded": self.rows_loaded,
            "fail_on_rejected": self.fail_on_rejected,
            "headline": self.headline(),
            "rejections": [o.line() for o in self.outcomes if o.status == REJECTED],
        }


def log_run_summary(summaries: list[dict[str, Any] | None], report_names: list[str]) -> list[str]:
    """Log the DAG run's closing summary: one headline per report, then every rejection.

    Args:
        summaries: Each report task's :meth:`ReportSummary.as_dict`, or None when the task failed
            before producing one.
        report_names: The reports, in the same order.

    Returns:
        The reports that make the run fail: no summary (the task failed), or rejections in a
        report configured with ``fail_on_rejected``.
    """
    failed = []
    for name, summary in zip(report_names, summaries, strict=True):
        if summary is None:
            log.error("%s: FAILED before finishing (see its task log)", name)
            failed.append(name)
            continue
        log.info("%s", summary["headline"])
        if summary["rejected"] and summary["fail_on_rejected"]:
            failed.append(name)
    for summary in filter(None, summaries):
        for rejection in summary.get("rejections", []):
            log.warning("%s: %s", summary["report"], rejection)
    return failed


# -- one report ---------------------------------------------------------------------------------
def report_target(config: ImapReportsConfig, spec: ReportSpec) -> TargetTable:
    """The report's warehouse table: its columns then the load metadata columns."""
    columns = tuple(Column(c.name, c.warehouse_type) for c in spec.columns) + META_COLUMNS
    return TargetTable(
        config.target_schema, spec.target_table, columns, primary_key=(PARTITION_COLUMN, "_row_number")
    )


@dataclass
class _ReportRun:
    """One report's extraction in progress: the open mailbox folder, the warehouse, the ledger."""

    spec: ReportSpec
    target: TargetTable
    client: Any  # an IMAPClient with the report's folder EXAMINEd
    folder: str
    uidvalidity: int
    warehouse: Warehouse
    ledger: Ledger
    summary: ReportSummary
    reprocess: bool
    known: dict[tuple[str, str], LedgerEntry] = field(default_factory=dict)

    def entry(
        self, message: ReportMessage, part: AttachmentPart | None, status: str, **values
    ) -> LedgerEntry:
        h = message.headers
        return LedgerEntry(
            report=self.spec.name,
            message_key=h.message_key,
            part=part.section if part else "",
            message_id=h.message_id,
            folder=self.folder,
            uidvalidity=self.uidvalidity,
            uid=message.uid,
            received_at=message.received_at,
            sent_at=h.sent_at,
            sender=h.sender,
            subject=h.subject,
            file_name=part.file_name if part else None,
            size_bytes=values.get("size_bytes"),
            sha256=values.get("sha256"),
            row_count=values.get("row_count", 0),
            status=status,
            reason=values.get("reason"),
            duplicate_of=values.get("duplicate_of"),
            target_table=str(self.target),
            processed_at=dt.datetime.now(dt.UTC),
        )

    def outcome(self, entry: LedgerEntry, *, record: bool = True) -> None:
        if record:
            self.ledger.record(entry)
            self.known[entry.key] = entry
        outcome = AttachmentOutcome(
            message_id=entry.message_id,
            received_at=entry.received_at,
            part=entry.part,
            file_name=entry.file_name,
            status=entry.status if record else SKIPPED,
            rows=entry.row_count if record else 0,
            reason=entry.reason
            if record
            else f"already {entry.status} on {entry.processed_at:%Y-%m-%d %H:%M} UTC",
        )
        self.summary.outcomes.append(outcome)
        level = logging.WARNING if outcome.status == REJECTED else logging.INFO
        log.log(level, "%s: %s", self.spec.name, outcome.line())

    def already_done(self, message: ReportMessage, section: str) -> bool:
        previous = self.known.get((message.headers.message_key, section))
        if previous is None or self.reprocess:
            return False
        self.outcome(previous, record=False)
        return True

    def process(self, message: ReportMessage) -> None:
        matching = [p for p in message.parts if self.spec.attachment_matches(p.file_name)]
        if not matching:
            if self.already_done(message, ""):
                return
            names = ", ".join(repr(p.file_name) for p in message.parts) or "none"
            reason = f"no attachment matches {self.spec.attachment.pattern!r} (attachments: {names})"
            self.outcome(self.entry(message, None, REJECTED, reason=reason))
            return
        for part in matching:
            if self.already_done(message, part.section):
                continue
            if part.min_decoded_size > self.spec.max_size_bytes:
                reason = (
                    f"too big: at least {part.min_decoded_size:,} bytes ({part.size:,} {part.encoding}), "
                    f"max_size is {self.spec.max_size_bytes:,} (not downloaded)"
                )
                self.outcome(self.entry(message, part, REJECTED, reason=reason))
                continue
            self.process_part(message, part)

    def fetch_part(self, message: ReportMessage, part: AttachmentPart) -> bytes | None:
        # BODY.PEEK: reading the part must not set \Seen (the folder is also EXAMINEd read-only).
        response = self.client.fetch([message.uid], [f"BODY.PEEK[{part.section}]"])
        data = response.get(message.uid) or {}
        return data.get(f"BODY[{part.section}]".encode())

    def process_part(self, message: ReportMessage, part: AttachmentPart) -> None:
        raw = self.fetch_part(message, part)
        if raw is None:
            self.outcome(
                self.entry(message, part, REJECTED, reason="the server returned no content for this part")
            )
            return
        try:
            data = decode_transfer(raw, part.encoding)
        except TransferDecodeError as exc:
            self.outcome(self.entry(message, part, REJECTED, reason=str(exc)))
            return
        if len(data) > self.spec.max_size_bytes:
            reason = f"too big: {len(data):,} bytes, max_size is {self.spec.max_size_bytes:,}"
            self.outcome(self.entry(message, part, REJECTED, reason=reason, size_bytes=len(data)))
            return
        sha256 = hashlib.sha256(data).hexdigest()
        facts = {"size_bytes": len(data), "sha256": sha256}
        copy = self.ledger.loaded_copy(
            self.spec.name, sha256, exclude=(message.headers.message_key, part.section)
        )
        if copy is not None:
            origin = f"{copy.message_id or copy.message_key} part {copy.part}"
            received = f"{copy.received_at:%Y-%m-%d %H:%M} UTC"
            reason = f"same file as {copy.file_name!r} loaded from {origin} received {received}"
            self.outcome(self.entry(message, part, DUPLICATE, reason=reason, duplicate_of=origin, **facts))
            return
        try:
            rows = parse_attachment(data, self.spec)
        except RejectedAttachment as exc:
            self.outcome(self.entry(message, part, REJECTED, reason=str(exc), **facts))
            return
        self.load(message, part, sha256, rows)
        self.outcome(self.entry(message, part, LOADED, row_count=len(rows), **facts))

    def load(self, message: ReportMessage, part: AttachmentPart, sha256: str, rows) -> None:
        # Every value derives from the message, none from the clock: reprocessing a message
        # leaves its rows identical (the ledger records when it was processed).
        message_id = message.headers.message_id or message.headers.message_key
        meta = (message_id, message.received_at, part.file_name)

        def batches() -> Iterator[list[tuple]]:
            return iter_batches(((*values, sha256, number, *meta) for number, values in rows), size=5_000)

        columns = tuple(c.name for c in self.target.columns)
        result = self.warehouse.load(
            self.target, RowStream(columns, batches=batches), ReplacePartitions((PARTITION_COLUMN,))
        )
        log.info("%s: %s", self.spec.name, result.summary())


def ensure_ledger(config: ImapReportsConfig, warehouse: Warehouse | None = None) -> str:
    """Create the ledger table when missing; return its name."""
    with contextlib.ExitStack() as stack:
        if warehouse is None:
            warehouse = stack.enter_context(Warehouse.connect(config.target_conn_id))
        ledger = Ledger(warehouse, config.target_schema, config.ledger_table)
        ledger.ensure()
        return str(ledger.target)


def extract_report(
    config: ImapReportsConfig,
    spec: ReportSpec,
    window: Window,
    *,
    reprocess: bool = False,
    warehouse: Warehouse | None = None,
) -> ReportSummary:
    """Load the report's attachments received in ``window`` (already widened by the overlap).

    Args:
        config: The whole configuration (connections, schema, ledger table).
        spec: The report to extract.
        window: Messages whose INTERNALDATE is in ``[start, end)`` are considered.
        reprocess: Process attachments the ledger already has again (after a configuration fix):
            loaded ones are replaced, not duplicated.
        warehouse: An open warehouse; by default ``config.target_conn_id`` is opened and closed.

    Returns:
        What was loaded, found duplicate, rejected or skipped.

    Raises:
        ExtractionError: the mailbox cannot be reached or the folder opened. Warehouse errors
            propagate as the driver raised them, after the failed load rolled back.
    """
    settings = ImapSettings.from_connection(config.imap_conn_id)
    folder = spec.folder or settings.folder
    target = report_target(config, spec)
    summary = ReportSummary(
        report=spec.name,
        target=str(target),
        folder=folder,
        window=str(window),
        fail_on_rejected=spec.fail_on_rejected,
    )
    with contextlib.ExitStack() as stack:
        if warehouse is None:
            warehouse = stack.enter_context(Warehouse.connect(config.target_conn_id))
        ledger = Ledger(warehouse, config.target_schema, config.ledger_table)
        ledger.ensure()
        warehouse.ensure_table(target)
        client = connect_imap(settings)
        stack.callback(logout, client)
        uidvalidity = examine(client, folder, settings)
        summary.messages_in_window, messages = find_messages(client, spec, window)
        summary.messages_matched = len(messages)
        run = _ReportRun(spec, target, client, folder, uidvalidity, warehouse, ledger, summary, reprocess)
        run.known = ledger.entries(spec.name, (m.headers.message_key for m in messages))
        for message in messages:
            run.process(message)
    log.info("%s", summary.headline())
    return summary
