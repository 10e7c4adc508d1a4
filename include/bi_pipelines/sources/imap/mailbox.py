"""The BI mailbox, read-only: connect and log in, EXAMINE a folder, find a report's messages.

The folder is opened with ``EXAMINE`` and parts are fetched with ``BODY.PEEK`` elsewhere, so
nothing here can change a flag. The search uses whole days (IMAP dates have no time) with a day
of margin; the exact INTERNALDATE filter then keeps ``[window.start, window.end)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

from bi_pipelines.core.errors import AuthenticationError, ExtractionError, PermanentError
from bi_pipelines.core.retry import describe, redact, retrying
from bi_pipelines.core.values import parse_bool
from bi_pipelines.core.windows import Window
from bi_pipelines.sources.imap.mime import (
    HEADER_FIELDS,
    AttachmentPart,
    MessageHeaders,
    attachment_parts,
    parse_headers,
)
from bi_pipelines.sources.imap.spec import ReportSpec

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 120.0
FETCH_CHUNK = 200
_HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]"


class UntrustedCertificate(PermanentError, ExtractionError):
    """The IMAP server's TLS certificate is not trusted: a configuration fix, never a retry."""


@dataclass(frozen=True)
class ImapSettings:
    """How to reach the mailbox, from an Airflow connection (see ``credentials.py``: ``bi_imap``)."""

    conn_id: str
    host: str
    port: int
    login: str
    password: str = field(repr=False)
    use_ssl: bool = True
    verify_certificate: bool = True
    ca_file: str | None = None
    folder: str = "INBOX"

    @property
    def where(self) -> str:
        """The connection and server, for messages (no password)."""
        return f"{self.conn_id!r} (imap{'s' if self.use_ssl else ''}://{self.login}@{self.host}:{self.port})"

    @classmethod
    def from_connection(cls, conn_id: str) -> ImapSettings:
        """Read the mailbox settings of the Airflow connection ``conn_id``.

        The connection gives host, port, login and password; its extra gives ``use_ssl``,
        ``verify_certificate``, ``ca_file`` (a CA bundle to trust, e.g. a self-signed server's
        certificate) and ``folder``.
        """
        from bi_pipelines.db.connections import get_connection

        conn = get_connection(conn_id)
        extra = conn.extra_dejson or {}
        use_ssl = parse_bool(extra.get("use_ssl"), default=True)
        if not conn.host:
            raise ExtractionError(f"connection {conn_id!r} has no host; set imap_host in imap_creds.py")
        return cls(
            conn_id=conn_id,
            host=conn.host,
            port=int(conn.port or (993 if use_ssl else 143)),
            login=conn.login or "",
            password=conn.password or "",
            use_ssl=use_ssl,
            verify_certificate=parse_bool(extra.get("verify_certificate"), default=True),
            ca_file=extra.get("ca_file") or None,
            folder=extra.get("folder") or "INBOX",
        )


def _ssl_context(settings: ImapSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify_certificate:
        log.warning("%s: certificate verification is OFF (verify_certificate=false)", settings.where)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _open(settings: ImapSettings):
    """One TCP (and TLS) connect; the caller retries."""
    from imapclient import IMAPClient

    try:
        return IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.use_ssl,
            ssl_context=_ssl_context(settings) if settings.use_ssl else None,
            timeout=SOCKET_TIMEOUT_SECONDS,
        )
    except ssl.SSLCertVerificationError as exc:  # an OSError, but configuration: never retried
        raise UntrustedCertificate(
            f"{settings.where}: the server's certificate is not trusted ({exc.verify_message}); give "
            "the CA in the connection extra `ca_file`, or for a self-signed test server set "
            "imap_verify_certificate = False in imap_creds.py"
        ) from None


def connect_imap(
    settings: ImapSettings, attempts: int = CONNECT_ATTEMPTS, backoff: float = CONNECT_BACKOFF_SECONDS
):
    """Connect and log in, retrying refused or timed-out connections (not refused logins).

    Raises:
        UntrustedCertificate: the server's certificate is not trusted (permanent).
        AuthenticationError: the login is refused (permanent: retrying could lock the account).
        ExtractionError: the server stays unreachable. Every message names the connection id,
            host and login, never the password.
    """
    from imapclient.exceptions import IMAPClientError, LoginError

    policy = retrying(
        attempts=attempts,
        backoff_seconds=backoff,
        what=f"connecting to {settings.where}",
        logger=log,
        transient=(OSError, IMAPClientError),  # refused, timed out, dropped
        secrets=[settings.password],
    )
    try:
        client = policy(_open, settings)
    except PermanentError:
        raise
    except (OSError, IMAPClientError) as exc:
        raise ExtractionError(
            f"cannot connect to {settings.where} after {attempts} attempts: {describe(exc, [settings.password])}"
        ) from None
    try:
        client.login(settings.login, settings.password)
    except (LoginError, IMAPClientError) as exc:
        with contextlib.suppress(Exception):
            client.shutdown()
        error = AuthenticationError if isinstance(exc, LoginError) else ExtractionError
        raise error(
            f"{settings.where}: login refused ({redact(str(exc), [settings.password])}); "
            "check imap_username/imap_password in imap_creds.py"
        ) from None
    client.normalise_times = False  # INTERNALDATE as aware datetimes, not local naive time
    return client


def examine(client, folder: str, settings: ImapSettings) -> int:
    """Select ``folder`` read-only (EXAMINE); return its UIDVALIDITY."""
    from imapclient.exceptions import IMAPClientError

    try:
        response = client.select_folder(folder, readonly=True)
    except IMAPClientError as exc:
        names = ""
        with contextlib.suppress(Exception):
            names = ", ".join(repr(f[2]) for f in client.list_folders()[:30])
        raise ExtractionError(
            f"{settings.where}: cannot open folder {folder!r} ({exc}); the mailbox has: {names or '?'}. "
            "Fix `folder` in imap_reports.yaml or the connection's folder extra."
        ) from None
    return int(response.get(b"UIDVALIDITY", 0))


# -- finding the report's messages -------------------------------------------------------------
@dataclass(frozen=True)
class ReportMessage:
    """A message of the report's folder that matches it, with its attachment parts."""

    uid: int
    received_at: dt.datetime
    headers: MessageHeaders
    parts: tuple[AttachmentPart, ...]


def search_criteria(window: Window) -> list[Any]:
    """``SINCE``/``BEFORE`` covering ``window`` whatever time zone the server dates messages in.

    IMAP compares dates only, in the server's idea of the message's day; a day of margin on each
    side keeps every message of the window, and the exact INTERNALDATE filter does the rest.
    """
    since = window.start.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    before = window.end.astimezone(dt.UTC).date() + dt.timedelta(days=2)
    return ["SINCE", since, "BEFORE", before]


def _header_block(data: dict) -> bytes:
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(b"BODY[HEADER.FIELDS"):
            return value or b""
    return b""


def find_messages(client, spec: ReportSpec, window: Window) -> tuple[int, list[ReportMessage]]:
    """Messages of the selected folder received in ``window`` that match the report.

    Returns:
        ``(messages received in the window, matching messages oldest first)``.
    """
    uids = sorted(client.search(search_criteria(window)))
    in_window = 0
    matched: list[ReportMessage] = []
    for i in range(0, len(uids), FETCH_CHUNK):
        chunk = uids[i : i + FETCH_CHUNK]
        response = client.fetch(chunk, ["INTERNALDATE", "BODYSTRUCTURE", _HEADER_ITEM])
        for uid in chunk:
            data = response.get(uid)
            if not data or b"INTERNALDATE" not in data:
                continue  # expunged meanwhile
            received = data[b"INTERNALDATE"]
            if received.tzinfo is None:
                received = received.replace(tzinfo=dt.UTC)
            received = received.astimezone(dt.UTC)
            if not window.start <= received < window.end:
                continue
            in_window += 1
            headers = parse_headers(_header_block(data))
            if not (spec.sender_matches(headers.sender) and spec.subject_matches(headers.subject)):
                continue
            parts = tuple(attachment_parts(data.get(b"BODYSTRUCTURE") or ()))
            matched.append(ReportMessage(uid, received, headers, parts))
    matched.sort(key=lambda m: (m.received_at, m.uid))
    return in_window, matched


def logout(client) -> None:
    """Log out, ignoring a connection that is already gone."""
    with contextlib.suppress(Exception):
        client.logout()
