"""Real MIME report e-mails for the IMAP tests, built with the standard library's ``email`` package.

The messages look like what vendors send: base64 or quoted-printable CSVs, an XLSX made with
openpyxl, nested multiparts (``multipart/mixed`` inside ``multipart/alternative``), a report
forwarded as ``message/rfc822``, and non-ASCII file names written as RFC 2231 (with and without
continuations), RFC 2047 encoded words or raw UTF-8.
"""

from __future__ import annotations

import datetime as dt
import email.encoders
import email.header
import email.policy
import email.utils
import io
import textwrap
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path


@dataclass(frozen=True)
class Attachment:
    """A file to attach.

    Attributes:
        file_name: The name as the recipient should see it (any Unicode).
        data: The file's bytes.
        content_type: ``type/subtype``.
        transfer: ``base64``, ``quoted-printable`` or ``8bit``.
        name_style: ``rfc2231`` (``filename*=utf-8''...``), ``rfc2231-continued``
            (``filename*0*=...; filename*1*=...``), ``rfc2047`` (``filename="=?utf-8?b?...?="``,
            as Outlook writes it) or ``plain``.
    """

    file_name: str
    data: bytes
    content_type: str = "text/csv"
    transfer: str = "base64"
    name_style: str = "rfc2231"


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _quote_2231(value: str) -> str:
    return urllib.parse.quote(value.encode("utf-8"), safe="")


def _disposition(att: Attachment) -> tuple[str, str]:
    """(Content-Disposition value, Content-Type name parameter) for the attachment's name style."""
    name = att.file_name
    if att.name_style == "rfc2231":
        return f"attachment; filename*=utf-8''{_quote_2231(name)}", ""
    if att.name_style == "rfc2231-continued":
        half = len(name) // 2
        first, second = _quote_2231(name[:half]), _quote_2231(name[half:])
        return f"attachment;\r\n filename*0*=utf-8''{first};\r\n filename*1*={second}", ""
    if att.name_style == "rfc2047":
        encoded = email.header.Header(name, "utf-8").encode()
        return f'attachment; filename="{encoded}"', f'; name="{encoded}"'
    if att.name_style == "plain":
        return f'attachment; filename="{name}"', f'; name="{name}"'
    raise ValueError(f"unknown name style {att.name_style!r}")


def attachment_part(att: Attachment) -> MIMEBase:
    main, sub = att.content_type.split("/", 1)
    part = MIMEBase(main, sub)
    part.set_payload(att.data)
    if att.transfer == "base64":
        email.encoders.encode_base64(part)
    elif att.transfer == "quoted-printable":
        email.encoders.encode_quopri(part)
    elif att.transfer == "8bit":
        part["Content-Transfer-Encoding"] = "8bit"
    else:
        raise ValueError(f"unknown transfer encoding {att.transfer!r}")
    disposition, type_name = _disposition(att)
    if type_name:
        part.replace_header("Content-Type", f"{att.content_type}{type_name}")
    part["Content-Disposition"] = disposition
    return part


def report_email(
    *,
    sender: str,
    subject: str,
    attachments: Sequence[Attachment] = (),
    sent: dt.datetime | None = None,
    message_id: str | None = "auto",
    body: str = "Please find attached the scheduled report.\n",
    layout: str = "mixed",
) -> bytes:
    """A complete RFC 5322 message with CRLF line ends, ready for IMAP APPEND.

    Args:
        layout: ``mixed`` (text + attachments), ``nested`` (``multipart/alternative`` holding the
            text and a ``multipart/mixed`` with the HTML and the attachments), ``forwarded``
            (text + the report e-mail attached as ``message/rfc822``) or ``single`` (the one
            attachment is the whole message body).
    """
    if layout == "mixed":
        message = MIMEMultipart("mixed")
        message.attach(MIMEText(body, "plain", "utf-8"))
        for att in attachments:
            message.attach(attachment_part(att))
    elif layout == "nested":
        message = MIMEMultipart("alternative")
        message.attach(MIMEText(body, "plain", "utf-8"))
        rich = MIMEMultipart("mixed")
        rich.attach(MIMEText(f"<p>{body}</p>", "html", "utf-8"))
        for att in attachments:
            rich.attach(attachment_part(att))
        message.attach(rich)
    elif layout == "forwarded":
        inner = email.message_from_bytes(
            report_email(
                sender="reports@original.example", subject="Original", attachments=attachments, sent=sent
            )
        )
        message = MIMEMultipart("mixed")
        message.attach(MIMEText("Forwarding the report below.\n", "plain", "utf-8"))
        message.attach(MIMEMessage(inner))
    elif layout == "single":
        (att,) = attachments
        message = attachment_part(att)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    message["From"] = sender
    message["To"] = "bi@franchise.example"
    message["Subject"] = email.header.Header(subject, "utf-8").encode() if not subject.isascii() else subject
    message["Date"] = email.utils.format_datetime(sent or dt.datetime.now(dt.UTC))
    if message_id == "auto":
        message_id = f"<{uuid.uuid4().hex}@mail.test>"
    if message_id:
        message["Message-ID"] = message_id
    return message.as_bytes(policy=email.policy.SMTP)


def csv_bytes(
    rows: Sequence[Sequence[object]], *, delimiter: str = ";", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    """A CSV file (CRLF rows) in ``encoding``, with a UTF-8 byte-order mark when ``bom``."""
    text = "".join(delimiter.join(str(v) for v in row) + "\r\n" for row in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def xlsx_bytes(sheets: dict[str, Sequence[Sequence[object]]]) -> bytes:
    """An .xlsx workbook with one sheet per entry, made with openpyxl."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- the shipped example reports ---------------------------------------------------------------
FRANCHISE_HEADER = [
    "Date",
    "Franchise",
    "Nom",
    "Ventes brutes",
    "Ventes nettes",
    "Transactions",
    "Fermeture",
    "Corporatif",
]


def franchise_sales_csv(day: str, rows: Sequence[Sequence[object]], **kwargs) -> bytes:
    """The POS vendor's daily sales CSV (semicolons, decimal comma, space thousands)."""
    return csv_bytes([FRANCHISE_HEADER, *[[day, *r] for r in rows]], **kwargs)


CALL_CENTRE_HEADER = [
    "Week Starting",
    "Franchise ID",
    "Calls Offered",
    "Calls Answered",
    "AHT (s)",
    "Service Level",
    "Last Call",
]


def call_centre_xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    """The contact-centre platform's weekly workbook: title rows, then the table from row 3."""
    return xlsx_bytes(
        {
            "Summary": [
                ["Weekly call centre report"],
                ["Period", "2026-11-16 to 2026-11-22"],
                CALL_CENTRE_HEADER,
                *rows,
            ],
            "Notes": [["Generated automatically"]],
        }
    )


# -- configurations for tests --------------------------------------------------------------------
def write_reports_config(
    directory: Path,
    reports_yaml: str,
    *,
    schema: str = "raw_reports",
    overlap: str = "1d",
    defaults_yaml: str = "",
) -> Path:
    """Write an ``imap_reports.yaml`` with the given ``reports:`` body; return its path."""
    text = textwrap.dedent(
        f"""
        dag:
          dag_id: extract_bi_imap_test
          schedule: "20 * * * *"
          start_date: "2026-01-01T00:00:00"
          catchup: false
          tags: [test]
        source:
          conn_id: bi_imap
          overlap: {overlap}
        target:
          conn_id: redshift_dw
          schema: {schema}
        defaults:
          timezone: America/Toronto
        """
    )
    text += textwrap.indent(textwrap.dedent(defaults_yaml), "  ")
    text += "reports:\n" + textwrap.indent(textwrap.dedent(reports_yaml), "  ")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "imap_reports.yaml"
    path.write_text(text, encoding="utf-8")
    return path
