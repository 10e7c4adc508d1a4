"""COPY text and Redshift CSV encoding, the chunk reader, type mapping and DST localisation."""

from __future__ import annotations

import datetime as dt
import decimal
from zoneinfo import ZoneInfo

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.timezones import local_to_utc
from bi_pipelines.db.identifiers import quote_mysql, quote_pg, validate_identifier
from bi_pipelines.db.rows import iter_batches
from bi_pipelines.load.copy_text import ChunkReader, encode_rows, encode_value
from bi_pipelines.load.redshift import csv_line, redshift_type
from bi_pipelines.sources.relational.mysql import map_mysql_type

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        (True, "t"),
        (False, "f"),
        (42, "42"),
        (decimal.Decimal("1.50"), "1.50"),
        ("tab\there\nnew\\line\rcr", "tab\\there\\nnew\\\\line\\rcr"),
        (b"\x00\xff", "\\\\x00ff"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        ({"a": "é\n"}, '{"a": "é\\\\n"}'),
        (dt.timedelta(hours=1, seconds=1), "3601.0 seconds"),
    ],
)
def test_copy_text_values(value, text):
    assert encode_value(value) == text


def test_encode_rows_and_chunk_reader_round_trip():
    chunks = list(encode_rows([[(1, "a"), (2, None)], [], [(3, "c\td")]]))
    assert chunks == [b"1\ta\n2\t\\N\n", b"3\tc\\td\n"]
    reader = ChunkReader(iter(chunks))
    assert reader.read(3) == b"1\ta"
    assert reader.read(100) == b"\n2\t\\N\n"
    assert reader.read() == b"3\tc\\td\n"
    assert reader.read(10) == b""
    assert reader.bytes_read == sum(len(c) for c in chunks)


def test_redshift_csv_quotes_everything_but_null():
    line = csv_line([1, None, 'say "hi", ok', b"\x01", True, {"k": "v\n"}])
    assert line == '"1",\\N,"say ""hi"", ok","01","t","{""k"": ""v\\n""}"\n'


def test_redshift_types():
    assert redshift_type("text") == "VARCHAR(65535)"
    assert redshift_type("jsonb") == "VARCHAR(65535)"
    assert redshift_type("integer[]") == "VARCHAR(65535)"
    assert redshift_type("numeric(12,2)") == "numeric(12,2)"
    assert redshift_type("timestamp with time zone") == "timestamp with time zone"


def test_iter_batches():
    assert [len(b) for b in iter_batches(range(25), size=10)] == [10, 10, 5]


@pytest.mark.parametrize(
    ("data_type", "column_type", "precision", "scale", "expected"),
    [
        ("tinyint", "tinyint(1)", 3, 0, ("boolean", "bool")),
        ("tinyint", "tinyint(4)", 3, 0, ("smallint", "other")),
        ("int", "int(10) unsigned", 10, 0, ("bigint", "other")),
        ("int", "int(11)", 10, 0, ("integer", "other")),
        ("bigint", "bigint(20) unsigned", 20, 0, ("numeric(20,0)", "other")),
        ("bigint", "bigint(20)", 19, 0, ("bigint", "other")),
        ("decimal", "decimal(30,6)", 30, 6, ("numeric(30,6)", "other")),
        ("datetime", "datetime(6)", None, None, ("timestamp with time zone", "naive_timestamp")),
        ("timestamp", "timestamp", None, None, ("timestamp with time zone", "utc_timestamp")),
        ("date", "date", None, None, ("date", "date")),
        ("json", "longtext", None, None, ("jsonb", "json")),
        ("blob", "blob", None, None, ("bytea", "bytes")),
        ("varchar", "varchar(200)", None, None, ("text", "text")),
        ("enum", "enum('a','b')", None, None, ("text", "text")),
        ("time", "time", None, None, ("interval", "time")),
        ("double", "double", 22, None, ("double precision", "other")),
    ],
)
def test_mysql_type_mapping(data_type, column_type, precision, scale, expected):
    assert map_mysql_type(data_type, column_type, precision, scale) == expected


def test_local_to_utc_reads_dst_edges_as_standard_time():
    zone = ZoneInfo("America/Vancouver")
    assert local_to_utc(dt.datetime(2026, 7, 1, 12), zone) == dt.datetime(2026, 7, 1, 19, tzinfo=UTC)
    assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30), zone) == dt.datetime(
        2026, 11, 1, 9, 30, tzinfo=UTC
    )  # twice
    assert local_to_utc(dt.datetime(2026, 3, 8, 2, 30), zone) == dt.datetime(
        2026, 3, 8, 10, 30, tzinfo=UTC
    )  # never


def test_identifiers():
    assert validate_identifier("booking_id", "x") == "booking_id"
    for bad in ("1abc", "a b", 'x"; drop', "", None, "a" * 64, "tbl;--"):
        with pytest.raises(ConfigError):
            validate_identifier(bad, "where")
    assert quote_pg('we"ird') == '"we""ird"'
    assert quote_mysql("we`ird") == "`we``ird`"
