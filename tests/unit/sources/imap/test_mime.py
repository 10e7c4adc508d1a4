"""BODYSTRUCTURE walking, MIME parameter decoding, transfer decoding and header parsing."""

from __future__ import annotations

import datetime as dt

import pytest
from imapclient.response_parser import parse_fetch_response

from bi_pipelines.sources.imap.mime import (
    AttachmentPart,
    TransferDecodeError,
    attachment_parts,
    decode_parameters,
    decode_transfer,
    parse_headers,
)


def bodystructure(text: str):
    """Parse a server's BODYSTRUCTURE the way imapclient does in a real FETCH."""
    return parse_fetch_response([f"1 (UID 7 BODYSTRUCTURE {text})".encode()])[7][b"BODYSTRUCTURE"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ((b"filename*", b"utf-8''Ventes_Qu%C3%A9bec_2026-11-20.csv"), "Ventes_Québec_2026-11-20.csv"),
        ((b"FILENAME*", b"iso-8859-1'fr'Ventes_Qu%E9bec.csv"), "Ventes_Québec.csv"),
        ((b"filename*0*", b"utf-8''Ventes_Qu%C3", b"filename*1*", b"%A9bec.csv"), "Ventes_Québec.csv"),
        ((b"filename*1", b"bec.csv", b"filename*0", b"Ventes_Que"), "Ventes_Quebec.csv"),
        ((b"filename", b"=?utf-8?b?VmVudGVzX1F1w6liZWMuY3N2?="), "Ventes_Québec.csv"),
        ((b"filename", b"=?UTF-8?Q?Ventes=5FQu=C3=A9bec.csv?="), "Ventes_Québec.csv"),
        ((b"filename", "Ventes_Québec.csv".encode()), "Ventes_Québec.csv"),  # raw UTF-8 (RFC 6532)
        ((b"filename", "Ventes_Québec.csv".encode("latin-1")), "Ventes_Québec.csv"),  # raw Latin-1
        ((b"filename", b"old.csv", b"filename*", b"utf-8''new.csv"), "new.csv"),  # extended wins
        ((b"filename", b"=?bogus-charset?q?x?="), "=?bogus-charset?q?x?="),  # left as is
    ],
)
def test_decode_parameters_handles_the_ways_mail_writes_file_names(params, expected):
    assert decode_parameters(params)["filename"] == expected


def test_decode_parameters_of_nothing():
    assert decode_parameters(None) == {}
    assert decode_parameters(()) == {}


def test_attachment_parts_numbers_sections_through_nested_multiparts():
    # multipart/alternative( text/plain, multipart/mixed( text/html, text/csv attachment ) )
    structure = bodystructure(
        '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        '(("text" "html" ("charset" "utf-8") NIL NIL "7bit" 20 1 NIL NIL NIL NIL)'
        '("text" "csv" ("charset" "utf-8") NIL NIL "base64" 400 6 NIL '
        '("attachment" ("filename*" "utf-8\'\'Ventes_Qu%C3%A9bec.csv")) NIL NIL)'
        ' "mixed" ("boundary" "b2") NIL NIL NIL) "alternative" ("boundary" "b1") NIL NIL NIL)'
    )
    assert attachment_parts(structure) == [
        AttachmentPart(
            section="2.2", content_type="text/csv", file_name="Ventes_Québec.csv", encoding="base64", size=400
        )
    ]


def test_attachment_parts_reads_non_text_parts_and_content_type_names():
    structure = bodystructure(
        '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        '("application" "vnd.openxmlformats-officedocument.spreadsheetml.sheet" '
        '("name" "=?utf-8?q?Centre_d=27appels.xlsx?=") NIL NIL "base64" 8000 NIL '
        '("attachment" NIL) NIL NIL)'
        '("application" "pdf" NIL NIL NIL "base64" 100 NIL ("inline" ("filename" "notes.pdf")) NIL NIL)'
        ' "mixed" ("boundary" "b1") NIL NIL NIL)'
    )
    parts = attachment_parts(structure)
    assert [(p.section, p.file_name, p.min_decoded_size) for p in parts] == [
        ("2", "Centre d'appels.xlsx", 5846),
        ("3", "notes.pdf", 73),
    ]


def test_attachment_parts_descends_into_a_forwarded_message():
    inner = (
        '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        '("text" "csv" NIL NIL NIL "quoted-printable" 50 2 NIL ("attachment" ("filename" "a.csv")) NIL NIL)'
        ' "mixed" ("boundary" "in") NIL NIL NIL)'
    )
    envelope = '(NIL "Original" NIL NIL NIL NIL NIL NIL NIL "<x@y>")'
    structure = bodystructure(
        '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        f'("message" "rfc822" NIL NIL NIL "7bit" 900 {envelope} {inner} 30 NIL NIL NIL NIL)'
        ' "mixed" ("boundary" "out") NIL NIL NIL)'
    )
    assert [(p.section, p.file_name, p.encoding) for p in attachment_parts(structure)] == [
        ("2.2", "a.csv", "quoted-printable")
    ]


def test_a_single_part_message_is_section_1():
    structure = bodystructure(
        '("text" "csv" ("name" "r.csv") NIL NIL "base64" 40 1 NIL ("attachment" ("filename" "r.csv")) NIL NIL)'
    )
    assert [p.section for p in attachment_parts(structure)] == ["1"]


def test_parts_without_a_file_name_are_not_attachments():
    structure = bodystructure('("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)')
    assert attachment_parts(structure) == []


def test_decode_transfer():
    assert decode_transfer(b"YSxi\r\nCjEs\r\nMgo=\r\n", "base64") == b"a,b\n1,2\n"
    assert decode_transfer(b"Qu=C3=A9bec;12=\r\n3\r\n", "quoted-printable") == "Québec;123\r\n".encode()
    assert decode_transfer(b"raw", "8bit") == b"raw"
    assert decode_transfer(b"raw", "") == b"raw"
    with pytest.raises(TransferDecodeError, match="base64"):
        decode_transfer(b"YSxiC", "base64")
    with pytest.raises(TransferDecodeError, match="x-uuencode"):
        decode_transfer(b"begin 644", "x-uuencode")


def test_parse_headers_decodes_subject_and_sender():
    headers = parse_headers(
        b"Message-ID: <abc@pos-vendor.example>\r\n"
        b"Date: Fri, 20 Nov 2026 06:05:00 -0500\r\n"
        b"From: =?utf-8?q?Syst=C3=A8me_PDV?= <Reports@POS-Vendor.example>\r\n"
        b"Subject: =?utf-8?q?Daily_franchise_sales_=E2=80=93_Qu=C3=A9bec?=\r\n\r\n"
    )
    assert headers.message_id == "<abc@pos-vendor.example>"
    assert headers.sent_at == dt.datetime(2026, 11, 20, 11, 5, tzinfo=dt.UTC)
    assert headers.sender == "reports@pos-vendor.example"
    assert headers.subject == "Daily franchise sales \u2013 Québec"


def test_message_key_is_stable_and_tells_apart_reused_message_ids():
    raw = (
        b"Message-ID: <same@x>\r\nDate: Fri, 20 Nov 2026 06:05:00 -0500\r\nFrom: a@b.c\r\nSubject: s\r\n\r\n"
    )
    folded = raw.replace(b"Subject: s", b"Subject:\r\n s")
    next_day = raw.replace(b"20 Nov", b"21 Nov")
    assert parse_headers(raw).message_key == parse_headers(folded).message_key
    assert parse_headers(raw).message_key != parse_headers(next_day).message_key
    assert len(parse_headers(raw).message_key) == 32


def test_parse_headers_tolerates_missing_and_broken_fields():
    headers = parse_headers(b"Date: not a date\r\nSubject: hi\r\n\r\n")
    assert (headers.message_id, headers.sent_at, headers.sender, headers.subject) == (None, None, None, "hi")
    assert parse_headers(b"").subject == ""


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # Raw UTF-8 in a plain piece beside an encoded one (the stdlib alone gives "日\\u672c.csv").
        ((b"filename*0*", b"utf-8''%E6%97%A5", b"filename*1", "本.csv".encode()), "日本.csv"),
        # A UTF-8 character split across two raw 8-bit pieces is decoded from the joined bytes.
        ((b"filename*0", b"Ventes_Qu\xc3", b"filename*1", b"\xa9bec.csv"), "Ventes_Québec.csv"),
        # An unnumbered extended value beside numbered pieces (the stdlib cannot sort them).
        (
            (
                b"filename*",
                b"utf-8''whole.csv",
                b"filename*0*",
                b"utf-8''Ventes_Qu%C3",
                b"filename*1*",
                b"%A9bec.csv",
            ),
            "Ventes_Québec.csv",
        ),
        # A wrong or unknown declared charset: UTF-8, then Latin-1.
        ((b"filename*", b"us-ascii''Qu%C3%A9bec.csv"), "Québec.csv"),
        ((b"filename*", b"bogus''Qu%C3%A9bec.csv"), "Québec.csv"),
        ((b"filename*", b"utf-8''Qu%E9bec.csv"), "Québec.csv"),
        # Apostrophes in plain pieces are not mistaken for a charset'language' prefix.
        ((b"filename*0", b"Bob's 'x'", b"filename*1", b".csv"), "Bob's 'x'.csv"),
    ],
)
def test_decode_parameters_where_the_stdlib_needs_help(params, expected):
    assert decode_parameters(params)["filename"] == expected


def test_nul_characters_are_removed_from_names_and_subjects(caplog):
    from bi_pipelines.sources.imap.mime import attachment_parts, decode_parameters, parse_headers

    assert decode_parameters(["name*", "utf-8''Ventes_%00Nul.csv"]) == {"name": "Ventes_\x00Nul.csv"}
    structure = bodystructure(
        '("text" "csv" ("charset" "utf-8") NIL NIL "base64" 12 1 NIL '
        '("attachment" ("filename*" "utf-8\'\'Ventes_%00Nul.csv")) NIL NIL)'
    )
    with caplog.at_level("WARNING"):
        (part,) = attachment_parts(structure)
        headers = parse_headers(b"Subject: =?utf-8?q?Daily_=00sales?=\r\nMessage-ID: <a@b>\r\n\r\n")
    assert part.file_name == "Ventes_Nul.csv"
    assert headers.subject == "Daily sales"
    assert "removed 1 NUL character(s) from the attachment name 'Ventes_Nul.csv'" in caplog.text
    assert "removed 1 NUL character(s) from the subject 'Daily sales'" in caplog.text
