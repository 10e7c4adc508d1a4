"""What an IMAP server says about a message, turned into plain Python: no server access here.

- :func:`attachment_parts` walks a ``BODYSTRUCTURE`` (as parsed by imapclient) into the leaf
  parts that carry a file name, with their IMAP section numbers (``"2"``, ``"1.3"``, ``"2.2"``
  inside a forwarded message), so only those parts are fetched.
- :func:`decode_parameters` decodes MIME parameters the way real mail writes file names:
  RFC 2231 (``filename*=utf-8''Ventes_Qu%C3%A9bec.csv``, continuations ``filename*0*``...),
  RFC 2047 encoded words (``"=?utf-8?q?Ventes=5FQu=C3=A9bec.csv?="``) and raw 8-bit UTF-8 or
  Latin-1. Airflow's ImapHook leaves the first two undecoded.
- :func:`decode_transfer` undoes base64 and quoted-printable.
- :func:`parse_headers` reads Message-ID, Date, From and Subject (RFC 2047 decoded).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import datetime as dt
import email.header
import email.utils
import hashlib
import logging
import quopri
import re
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

log = logging.getLogger(__name__)

HEADER_FIELDS = ("MESSAGE-ID", "DATE", "FROM", "SUBJECT")
# An RFC 2231 continuation piece: name*0, name*1*, ... (decode_params accepts word characters only).
_PIECE = re.compile(r"^(?P<name>\w+)\*(?P<index>\d+)(?P<ext>\*)?$", re.ASCII)


class TransferDecodeError(ValueError):
    """A part's content does not decode with its declared Content-Transfer-Encoding."""


@dataclass(frozen=True)
class AttachmentPart:
    """A leaf MIME part with a file name, as described by BODYSTRUCTURE.

    Attributes:
        section: IMAP section number to fetch with ``BODY.PEEK[<section>]``.
        content_type: ``type/subtype``, lower case.
        file_name: Decoded file name (``Content-Disposition`` filename, else ``Content-Type`` name).
        encoding: Content-Transfer-Encoding, lower case (``base64``, ``quoted-printable``, ``7bit``...).
        size: Size of the *encoded* content in octets, as the server reports it.
    """

    section: str
    content_type: str
    file_name: str
    encoding: str
    size: int

    @property
    def min_decoded_size(self) -> int:
        """A lower bound of the decoded size, known without fetching the part.

        Base64 carries at most 57 bytes per 78-octet line (76 characters and CRLF) and never more
        than 3 bytes per 4 characters; quoted-printable needs at least 1 octet and at most 3 per
        byte. A part whose lower bound is over the limit is too big for sure.
        """
        if self.encoding == "base64":
            return self.size * 57 // 78
        if self.encoding == "quoted-printable":
            return self.size // 3
        return self.size


def _text(value: Any) -> str:
    """Bytes from the server as text: UTF-8 where valid (RFC 6532), else Latin-1 (never fails)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(value).decode("latin-1")


def without_nul(text: str, what: str) -> str:
    """``text`` without NUL characters, logging how many were removed.

    RFC 2231 (``%00``) and RFC 2047 (``=00``) can both encode a NUL, which no warehouse text
    column accepts: a file name or subject carrying one would stop its ledger row, its rows and
    every later e-mail from loading.
    """
    count = text.count("\x00")
    if not count:
        return text
    cleaned = text.replace("\x00", "")
    log.warning("removed %d NUL character(s) from the %s %r", count, what, cleaned)
    return cleaned


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (``=?charset?q|b?...?=``); leave anything else as is."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, ValueError, UnicodeDecodeError, binascii.Error):
        return value


def _codec_exists(charset: str | None) -> bool:
    if not charset:
        return False
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _collapse(value: str | tuple[str | None, str | None, str]) -> str:
    """A value from :func:`email.utils.decode_params` as text.

    The stdlib decodes an extended value with its declared charset only (and silently keeps the
    undecoded text when the charset is unknown); real mail also declares the wrong charset or
    none, so the bytes are tried as that charset, then UTF-8, then Latin-1 (never fails).
    """
    if not isinstance(value, tuple):
        return email.utils.unquote(value)
    charset, language, text = value
    text = email.utils.unquote(text)
    for candidate in (charset, "utf-8", "latin-1"):
        if _codec_exists(candidate):
            try:
                return email.utils.collapse_rfc2231_value((candidate, language, text), errors="strict")
            except UnicodeDecodeError:
                continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def decode_parameters(params: Sequence[Any] | None) -> dict[str, str]:
    """Decode a BODYSTRUCTURE parameter list ``(name, value, name, value, ...)``.

    Names are lower-cased. RFC 2231 extended and continued values are joined and decoded with
    their charset by :func:`email.utils.decode_params`; plain values get RFC 2047 decoding (many
    mailers, Outlook among them, write ``name="=?utf-8?B?...?="``), which the stdlib leaves to
    the caller. An extended value wins over a plain one of the same name. Raw 8-bit values (RFC
    6532 UTF-8, or Latin-1) are read by :func:`_text`, and raw 8-bit continuation pieces are
    prepared by :func:`_rfc2231_pieces`, before the stdlib sees them.
    """
    if not params:
        return {}
    items = list(params)
    pairs = [(_text(items[i]).strip().lower(), items[i + 1]) for i in range(0, len(items) - 1, 2)]
    decoded: dict[str, str] = {}
    # The first pair of decode_params' input is the header's main value ("text/csv"), kept as is.
    for name, value in email.utils.decode_params([("", ""), *_rfc2231_pieces(pairs)])[1:]:
        text = _collapse(value)
        decoded[name] = text if isinstance(value, tuple) else _decode_words(text)
    return decoded


def _raw(value: Any) -> bytes:
    if value is None:
        return b""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _rfc2231_pieces(pairs: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    r"""Prepare parameters for :func:`email.utils.decode_params`, which mishandles two things.

    - A plain piece (``name*1``) beside percent-encoded ones (``name*0*``) is joined as text and
      later turned back into bytes with ``raw-unicode-escape``: raw 8-bit UTF-8 in it (written
      by some mailers) comes out as ``\uXXXX``. Every plain piece of a name that has an encoded
      or 8-bit piece is therefore percent-encoded from its bytes here, so the joined bytes are
      decoded once, with the declared charset (else UTF-8, else Latin-1).
    - An unnumbered ``name*`` beside numbered ``name*0*`` pieces cannot be sorted with them (a
      ``TypeError``): the numbered pieces, the complete form, win.
    """
    pieces: dict[str, list[tuple[int, bool, bytes]]] = {}
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        match = _PIECE.match(name)
        if match:
            pieces.setdefault(match["name"], []).append(
                (int(match["index"]), bool(match["ext"]), _raw(value))
            )
        else:
            out.append((name, _text(value)))
    out = [(name, value) for name, value in out if not (name.endswith("*") and name[:-1] in pieces)]
    for base, parts in pieces.items():
        mixed = any(ext or not raw.isascii() for _index, ext, raw in parts)
        for index, ext, raw in parts:
            if ext or not mixed:
                out.append((f"{base}*{index}{'*' if ext else ''}", _text(raw)))
            else:
                # An unencoded first piece has no charset'language' prefix: give it an empty one.
                prefix = "''" if index == 0 else ""
                out.append((f"{base}*{index}*", prefix + urllib.parse.quote_from_bytes(raw, safe="")))
    return out


def _lower(value: Any) -> str:
    return _text(value).strip().lower()


def _children(node: Sequence[Any]) -> list[Sequence[Any]] | None:
    """The sub-parts of a multipart node, or None for a leaf.

    imapclient nests the top level's parts in a list; the body of an encapsulated message
    (``message/rfc822``) stays a raw tuple whose leading elements are the parts.
    """
    if not node:
        return None
    if isinstance(node[0], list):
        return node[0]
    if isinstance(node[0], tuple):
        parts: list[Sequence[Any]] = []
        for element in node:
            if not isinstance(element, tuple):
                break
            parts.append(element)
        return parts
    return None


def _disposition(node: Sequence[Any], index: int) -> dict[str, str]:
    if len(node) > index and isinstance(node[index], tuple) and len(node[index]) >= 2:
        return decode_parameters(node[index][1])
    return {}


def _walk(node: Sequence[Any], section: str) -> Iterator[AttachmentPart]:
    children = _children(node)
    if children is not None:
        for number, child in enumerate(children, 1):
            yield from _walk(child, f"{section}.{number}" if section else str(number))
        return
    section = section or "1"  # a single-part message's body is section 1
    main, sub = _lower(node[0]), _lower(node[1])
    if (main, sub) == ("message", "rfc822") and len(node) > 8 and isinstance(node[8], tuple):
        inner = node[8]
        # A forwarded message's parts are numbered below the message part; a single-part
        # forwarded message's body is "<section>.1".
        yield from _walk(inner, section) if _children(inner) is not None else _walk(inner, f"{section}.1")
        return
    # Extension data follows the basic fields: text/* has a line count first (RFC 3501 7.4.2).
    disposition_index = 9 if main == "text" else 8
    file_name = _disposition(node, disposition_index).get("filename") or decode_parameters(node[2]).get(
        "name"
    )
    if not file_name:
        return
    size = node[6] if len(node) > 6 and isinstance(node[6], int) else 0
    yield AttachmentPart(
        section=section,
        content_type=f"{main}/{sub}",
        file_name=without_nul(file_name, "attachment name").strip(),
        encoding=_lower(node[5]) or "7bit",
        size=size,
    )


def attachment_parts(bodystructure: Sequence[Any]) -> list[AttachmentPart]:
    """Every leaf part that carries a file name, in section order."""
    return list(_walk(bodystructure, ""))


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding.

    Raises:
        TransferDecodeError: for malformed base64 or an encoding other than base64,
            quoted-printable, 7bit, 8bit or binary.
    """
    encoding = (encoding or "7bit").lower()
    if encoding == "base64":
        try:
            # Line breaks and other non-alphabet characters are skipped, as mail readers do.
            return base64.b64decode(data, validate=False)
        except binascii.Error as exc:
            raise TransferDecodeError(f"the base64 content is malformed ({exc})") from None
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    if encoding in ("7bit", "8bit", "binary"):
        return data
    raise TransferDecodeError(f"unsupported Content-Transfer-Encoding {encoding!r}")


@dataclass(frozen=True)
class MessageHeaders:
    """The headers a report is matched and recorded by."""

    message_id: str | None
    sent_at: dt.datetime | None
    sender: str | None
    subject: str
    raw: str

    @property
    def message_key(self) -> str:
        """A stable identity of the message for the ledger.

        A digest of Message-ID, Date, From and Subject as sent: the same message read again (from
        another folder, after a move, a re-append) has the same key, while a sender that reuses one
        Message-ID for different e-mails -- some report generators do -- or sends none still gets
        one key per e-mail. E-mails whose four headers are all equal (a scanner splitting one job
        into two mails) share the key: the ledger tells their files apart by their SHA-256.
        """
        return hashlib.sha256(self.raw.encode("utf-8", errors="replace")).hexdigest()[:32]


def parse_headers(raw: bytes) -> MessageHeaders:
    """Parse the ``HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)`` block of a message."""
    message = BytesHeaderParser().parsebytes(raw or b"")

    def field(name: str) -> str:
        value = message.get(name)
        if value is None:
            return ""
        text = str(value)
        # The parser keeps raw 8-bit header bytes as surrogates: recover them as UTF-8 or Latin-1.
        with contextlib.suppress(UnicodeEncodeError):
            text = _text(text.encode("ascii", "surrogateescape"))
        return " ".join(text.split())

    message_id = without_nul(field("Message-ID"), "Message-ID") or None
    sent_at = None
    if field("Date"):
        try:
            sent_at = email.utils.parsedate_to_datetime(field("Date"))
            if sent_at.tzinfo is None:  # "-0000": UTC by RFC 5322
                sent_at = sent_at.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError):
            sent_at = None
    sender = None
    from_value = _decode_words(field("From"))
    if from_value:
        _name, address = email.utils.parseaddr(from_value)
        sender = without_nul(address, "sender address").lower() or None
    raw_identity = "\n".join(field(name) for name in ("Message-ID", "Date", "From", "Subject"))
    return MessageHeaders(
        message_id=message_id,
        sent_at=sent_at,
        sender=sender,
        subject=without_nul(_decode_words(field("Subject")), "subject"),
        raw=raw_identity,
    )
