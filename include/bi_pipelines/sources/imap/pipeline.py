"""Report e-mails in the BI mailbox -> warehouse tables, exactly once.

For one configured report and one window, :func:`extract_report`:

1. opens the mailbox (connection ``bi_imap``) with imapclient over IMAPS and ``EXAMINE``s the
   report's folder (read-only), so no flag can change;
2. searches ``SINCE``/``BEFORE`` on the whole days around the window (IMAP dates have no time),
   then keeps messages whose INTERNALDATE falls exactly in ``[window.start, window.end)``;
3. reads only headers and ``BODYSTRUCTURE`` for those, matches sender and subject, and picks the
   attachment parts whose decoded file name matches;
4. for each part not yet in the ledger (or selected by ``reprocess``), fetches just that part with ``BODY.PEEK[<section>]``,
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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.windows import Window
from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.publish import ReplacePartitions
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.imap.ledger import (
    DUPLICATE,
    LOADED,
    REJECTED,
    Ledger,
    LedgerEntry,
    pending_key,
)
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
        """One log line: status, file, message, received time, rows and reason."""
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
    selected: bool = True  # False: the run's ``reports`` param left this report out

    def count(self, status: str) -> int:
        """How many attachments ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def rows_loaded(self) -> int:
        """The rows loaded from every attachment of the run."""
        return sum(o.rows for o in self.outcomes if o.status == LOADED)

    @property
    def should_fail(self) -> bool:
        """Whether the task fails: a rejected attachment when the report says ``fail_on_rejected``."""
        return self.fail_on_rejected and self.count(REJECTED) > 0

    def headline(self) -> str:
        """One line for the task log: e-mails matched and what happened to their attachments."""
        if not self.selected:
            return f"{self.report}: not in the run's `reports`, nothing done"
        return (
            f"{self.report}: {self.messages_matched} matching e-mail(s) of {self.messages_in_window} in "
            f"{self.folder!r} {self.window}; loaded {self.count(LOADED)} attachment(s) "
            f"({self.rows_loaded} rows) into {self.target}, duplicate {self.count(DUPLICATE)}, "
            f"rejected {self.count(REJECTED)}, already processed {self.count(SKIPPED)}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The summary as a plain dict, for XCom."""
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
            "selected": self.selected,
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


REPROCESS_MODES = ("none", "rejected", "all")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ReprocessSelection:
    """Which attachments the ledger already has are processed again; the others are skipped.

    Attachments the ledger does not have are always processed. Exactly one rule applies, the
    first given of: ``sha256`` (that file, wherever it came from), ``message_id`` (that e-mail's
    attachments, or only its ``part``), ``mode``: ``none`` (the default), ``rejected`` (the files
    recorded as rejected: what a configuration fix is for) or ``all`` (every file, loaded ones
    too: they are re-parsed with today's configuration and replace their rows).
    """

    mode: str = "none"
    sha256: str | None = None
    message_id: str | None = None
    part: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in REPROCESS_MODES:
            raise ConfigError(f"reprocess must be one of {', '.join(REPROCESS_MODES)}, not {self.mode!r}")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ConfigError(f"reprocess_sha256 must be 64 lower-case hex digits, not {self.sha256!r}")
        if self.part is not None and self.message_id is None:
            raise ConfigError("reprocess_part needs reprocess_message_id")

    @classmethod
    def of(cls, value: ReprocessSelection | bool | str | None) -> ReprocessSelection:
        """``True`` is ``rejected``, ``False``/None ``none``; a SHA-256 selects that one file."""
        if isinstance(value, ReprocessSelection):
            return value
        if value is None or value is False:
            return cls()
        if value is True:
            return cls("rejected")
        text = str(value).strip().lower()
        if _SHA256.match(text):
            return cls(sha256=text)
        return cls({"true": "rejected", "false": "none", "": "none"}.get(text, text))

    @property
    def anything(self) -> bool:
        """Whether the selection processes any ledger entry again."""
        return self.mode != "none" or self.sha256 is not None or self.message_id is not None

    def selects(self, entry: LedgerEntry) -> bool:
        """Whether ``entry``'s attachment is processed again."""
        if self.sha256 is not None:
            return entry.sha256 == self.sha256
        if self.message_id is not None:
            return entry.message_id == self.message_id and self.part in (None, entry.part)
        return self.mode == "all" or (self.mode == "rejected" and entry.status == REJECTED)

    def __str__(self) -> str:
        if self.sha256 is not None:
            return f"the file with SHA-256 {self.sha256}"
        if self.message_id is not None:
            return f"{self.message_id} " + (f"part {self.part}" if self.part else "(every part)")
        return {"none": "nothing", "rejected": "rejected files", "all": "every file"}[self.mode]


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
    reprocess: ReprocessSelection
    known: dict[tuple[str, str], list[LedgerEntry]] = field(default_factory=dict)

    def entry(
        self, message: ReportMessage, part: AttachmentPart | None, status: str, **values
    ) -> LedgerEntry:
        h = message.headers
        sha256 = values.get("sha256")
        return LedgerEntry(
            report=self.spec.name,
            message_key=h.message_key,
            part=part.section if part else "",
            attachment_key=sha256 or pending_key(self.folder, self.uidvalidity, message.uid),
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
            sha256=sha256,
            row_count=values.get("row_count", 0),
            status=status,
            reason=values.get("reason"),
            duplicate_of=values.get("duplicate_of"),
            target_table=str(self.target),
            processed_at=dt.datetime.now(dt.UTC),
        )

    def outcome(
        self, entry: LedgerEntry, *, record: bool = True, replaces: LedgerEntry | None = None
    ) -> None:
        if record:
            self.ledger.record(entry, also=self._drop_rows_when_rejected(entry, replaces))
            key = (entry.message_key, entry.part)
            kept = [
                e
                for e in self.known.get(key, [])
                if e.key != entry.key and e.mailbox_message != entry.mailbox_message
            ]
            self.known[key] = [*kept, entry]
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

    def _drop_rows_when_rejected(self, entry: LedgerEntry, replaces: LedgerEntry | None):
        """The deletion of a loaded file's rows when it is now rejected, or None.

        The ledger and the table must agree, so the rows go in the transaction that records the
        rejection: the returned function runs on that transaction's cursor.
        """
        if entry.status != REJECTED or replaces is None or replaces.status != LOADED or not replaces.sha256:
            return None
        table = self.warehouse.qualified(self.target.schema, self.target.table)
        sql = f"DELETE FROM {table} WHERE {self.warehouse.q(PARTITION_COLUMN)} = %s"
        sha256, name = replaces.sha256, self.spec.name

        def drop(cur) -> None:
            cur.execute(sql, [sha256])
            log.warning("%s: deleted %s row(s) of the now rejected file %s", name, cur.rowcount, sha256)

        return drop

    def _skip(self, previous: LedgerEntry | None) -> bool:
        """Whether an attachment the ledger has (``previous``) is left as it is."""
        if previous is None or self.reprocess.selects(previous):
            return False
        self.outcome(previous, record=False)
        return True

    def previous(self, message: ReportMessage, section: str) -> tuple[LedgerEntry | None, bool]:
        """The ledger row of this mailbox message and part, and whether others share its headers.

        Returns:
            The ledger row of this very mailbox message and part (None if it has none), and
            whether other e-mails with the same headers have rows for this part (then only the
            content tells them apart).
        """
        candidates = self.known.get((message.headers.message_key, section), [])
        here = (self.folder, self.uidvalidity, message.uid)
        same = [e for e in candidates if e.mailbox_message == here]
        return (same[0] if same else None), bool(candidates) and not same

    def process(self, message: ReportMessage) -> None:
        matching = [p for p in message.parts if self.spec.attachment_matches(p.file_name)]
        if not matching:
            previous, others = self.previous(message, "")
            if previous is None and others:
                # The same headers already recorded without an attachment: nothing to tell apart.
                previous = self.known[(message.headers.message_key, "")][0]
            if self._skip(previous):
                return
            names = ", ".join(repr(p.file_name) for p in message.parts) or "none"
            reason = f"no attachment matches {self.spec.attachment.pattern!r} (attachments: {names})"
            self.outcome(self.entry(message, None, REJECTED, reason=reason), replaces=previous)
            return
        for part in matching:
            previous, others = self.previous(message, part.section)
            if self._skip(previous):
                continue
            if part.min_decoded_size > self.spec.max_size_bytes:
                reason = (
                    f"too big: at least {part.min_decoded_size:,} bytes ({part.size:,} {part.encoding}), "
                    f"max_size is {self.spec.max_size_bytes:,} (not downloaded)"
                )
                self.outcome(self.entry(message, part, REJECTED, reason=reason), replaces=previous)
                continue
            self.process_part(message, part, previous, check_content=others)

    def fetch_part(self, message: ReportMessage, part: AttachmentPart) -> bytes | None:
        # BODY.PEEK: reading the part must not set \Seen (the folder is also EXAMINEd read-only).
        response = self.client.fetch([message.uid], [f"BODY.PEEK[{part.section}]"])
        data = response.get(message.uid) or {}
        return data.get(f"BODY[{part.section}]".encode())

    def process_part(
        self,
        message: ReportMessage,
        part: AttachmentPart,
        previous: LedgerEntry | None = None,
        check_content: bool = False,
    ) -> None:
        raw = self.fetch_part(message, part)
        if raw is None:
            self.outcome(
                self.entry(message, part, REJECTED, reason="the server returned no content for this part"),
                replaces=previous,
            )
            return
        try:
            data = decode_transfer(raw, part.encoding)
        except TransferDecodeError as exc:
            self.outcome(self.entry(message, part, REJECTED, reason=str(exc)), replaces=previous)
            return
        if len(data) > self.spec.max_size_bytes:
            reason = f"too big: {len(data):,} bytes, max_size is {self.spec.max_size_bytes:,}"
            self.outcome(
                self.entry(message, part, REJECTED, reason=reason, size_bytes=len(data)), replaces=previous
            )
            return
        sha256 = hashlib.sha256(data).hexdigest()
        key = (message.headers.message_key, part.section, sha256)
        if check_content:
            # Another mailbox message with the same headers has rows for this part: the same file
            # (the message filed twice) is that row; another file is a new attachment.
            same = [e for e in self.known.get(key[:2], []) if e.key == key]
            if same:
                if self._skip(same[0]):
                    return
                previous = same[0]
        facts = {"size_bytes": len(data), "sha256": sha256}
        copy = self.ledger.loaded_copy(self.spec.name, sha256, exclude=key)
        if copy is not None:
            origin = f"{copy.message_id or copy.message_key} part {copy.part}"
            received = f"{copy.received_at:%Y-%m-%d %H:%M} UTC"
            reason = f"same file as {copy.file_name!r} loaded from {origin} received {received}"
            self.outcome(self.entry(message, part, DUPLICATE, reason=reason, duplicate_of=origin, **facts))
            return
        try:
            rows = parse_attachment(data, self.spec)
        except RejectedAttachment as exc:
            self.outcome(self.entry(message, part, REJECTED, reason=str(exc), **facts), replaces=previous)
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


def not_selected_summary(config: ImapReportsConfig, report_name: str) -> ReportSummary:
    """The summary of a report the run's ``reports`` param left out: nothing read, nothing done."""
    spec = config.report(report_name)
    return ReportSummary(
        report=spec.name,
        target=str(report_target(config, spec)),
        folder=spec.folder or "",
        window="(not run)",
        selected=False,
    )


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
    reprocess: ReprocessSelection | bool | str | None = False,
    warehouse: Warehouse | None = None,
) -> ReportSummary:
    """Load the report's attachments received in ``window`` (already widened by the overlap).

    Args:
        config: The whole configuration (connections, schema, ledger table).
        spec: The report to extract.
        window: Messages whose INTERNALDATE is in ``[start, end)`` are considered.
        reprocess: Which attachments the ledger already has are processed again (see
            :class:`ReprocessSelection`; ``True`` means the rejected ones, ``"all"`` every one,
            a SHA-256 that one file). A loaded file processed again replaces its rows; one now
            rejected has its rows deleted with the same commit as its ledger row.
        warehouse: An open warehouse; by default ``config.target_conn_id`` is opened and closed.

    Returns:
        What was loaded, found duplicate, rejected or skipped.

    Raises:
        ExtractionError: the mailbox cannot be reached or the folder opened. Warehouse errors
            propagate as the driver raised them, after the failed load rolled back.
    """
    selection = ReprocessSelection.of(reprocess)
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
    if selection.anything:
        log.info("%s: processing again %s already in the ledger", spec.name, selection)
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
        run = _ReportRun(spec, target, client, folder, uidvalidity, warehouse, ledger, summary, selection)
        run.known = ledger.entries(spec.name, (m.headers.message_key for m in messages))
        for message in messages:
            run.process(message)
    log.info("%s", summary.headline())
    return summary
