"""Type comparison for schema changes, NUL stripping, COPY error messages and load summaries."""

from __future__ import annotations

import pytest

from bi_pipelines.core.errors import PermanentError, SchemaError
from bi_pipelines.load.copy_text import NulCounter, encode_rows, encode_value
from bi_pipelines.load.publish import LoadResult
from bi_pipelines.load.staging import rejected_value_error
from bi_pipelines.load.tables import Column, TargetTable, normalise_type, type_change, type_widenings


@pytest.mark.parametrize(
    ("spelled", "normal"),
    [
        ("DECIMAL(14, 4)", "numeric(14,4)"),
        ("varchar(50)", "character varying(50)"),
        ("int8", "bigint"),
        ("INT", "integer"),
        ("timestamp", "timestamp without time zone"),
        ("timestamptz", "timestamp with time zone"),
        ("float8", "double precision"),
        ("char", "character(1)"),
        ("text[]", "text[]"),
        ("VARCHAR(65535)", "character varying(65535)"),
    ],
)
def test_type_names_are_normalised_as_format_type_spells_them(spelled, normal):
    assert normalise_type(spelled) == normal


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("numeric(10,2)", "numeric(14,4)", "widen"),
        ("numeric(10,2)", "numeric", "widen"),
        ("smallint", "integer", "widen"),
        ("integer", "bigint", "widen"),
        ("integer", "numeric(10,0)", "widen"),
        ("character varying(5)", "varchar(50)", "widen"),
        ("character varying(5)", "text", "widen"),
        ("real", "double precision", "widen"),
        ("timestamp without time zone", "timestamptz", "keep"),
        ("numeric(14,4)", "DECIMAL(14,4)", "same"),
    ],
)
def test_safe_changes(old, new, change):
    assert type_change(old, new) == change


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("numeric(10,2)", "numeric(14,1)"),  # scale shrinks
        ("numeric(10,2)", "numeric(11,4)"),  # integer digits shrink (8 -> 7)
        ("numeric", "numeric(38,10)"),
        ("bigint", "integer"),
        ("integer", "numeric(9,0)"),
        ("text", "varchar(5)"),
        ("character varying(50)", "character varying(5)"),
        ("integer", "text"),
        ("double precision", "real"),
        ("jsonb", "text"),
    ],
)
def test_narrowings_and_changes_of_kind_are_refused(old, new):
    # Every refusal says how the new type falls short of the old one.
    with pytest.raises(
        ValueError, match=r"^the (new (integer )?type (holds fewer|is)|types are of different kinds)"
    ):
        type_change(old, new)


def test_type_widenings_name_table_column_and_both_types():
    target = TargetTable("raw_obe", "bookings", (Column("amount", "numeric(10,2)"),))
    with pytest.raises(SchemaError) as raised:
        type_widenings(target, {"amount": "numeric(14,4)"}, "postgres")
    assert isinstance(raised.value, PermanentError)
    for part in ("raw_obe.bookings", "'amount'", "numeric(14,4)", "numeric(10,2)"):
        assert part in str(raised.value)
    widened = type_widenings(
        TargetTable("s", "t", (Column("amount", "numeric(14,4)"), Column("new", "text"))),
        {"amount": "numeric(10,2)"},
        "postgres",
    )
    assert [(w.column, w.old, w.new) for w in widened] == [("amount", "numeric(10,2)", "numeric(14,4)")]


def test_redshift_widens_only_varchar():
    assert type_widenings(
        TargetTable("s", "t", (Column("c", "varchar(50)"),)), {"c": "character varying(5)"}, "redshift"
    )
    with pytest.raises(SchemaError, match="Redshift can only widen VARCHAR"):
        type_widenings(TargetTable("s", "t", (Column("c", "bigint"),)), {"c": "integer"}, "redshift")


def test_nul_is_stripped_from_text_and_json_counted_per_value_and_kept_in_bytes():
    nul = NulCounter()
    assert encode_value("a\x00b\x00", nul) == "ab"
    assert encode_value({"k\x00": ["x\x00", {"y": "\x00"}]}, nul) == '{"k": ["x", {"y": ""}]}'
    assert encode_value(b"\x00", nul) == "\\\\x00"
    assert encode_value("clean", nul) == "clean"
    assert nul.values == 2
    assert list(encode_rows([[(1, "\x00")]], nul)) == [b"1\t\n"]
    assert nul.values == 3
    assert nul.copy_text(b"1\ta\x00\t\x00b\n2\tc\n") == b"1\ta\tb\n2\tc\n"
    assert nul.values == 5


def test_summary_reports_widened_columns_and_stripped_nul():
    result = LoadResult("raw.t", 3, 1, 3, columns_widened=("amount",), nul_stripped=3)
    assert (
        result.summary()
        == "raw.t: staged 3, replaced 1, inserted 3, widened columns amount, stripped NUL from 3 value(s)"
    )
    assert LoadResult("raw.t", 1, 0, 1).summary() == "raw.t: staged 1, replaced 0, inserted 1"


class FakeDiag:
    def __init__(self, context, primary):
        self.context = context
        self.message_primary = primary
        self.sqlstate = "22003"


class FakeCopyError(Exception):
    def __init__(self, context, primary="value out of range"):
        super().__init__(primary)
        self.diag = FakeDiag(context, primary)
        self.pgcode = "22003"


@pytest.mark.parametrize(
    ("context", "column"),
    [
        ('COPY stg_x_1, line 7, column age: "70000"', "age"),
        ("COPY stg_x_1, line 7, column age: null input", "age"),
        ('COPY stg_x_1, line 7, column odd: name: "v"', "odd: name"),
        ('COPY stg_x_1, line 7: "1\tsecret@example.com\t70000"', None),
    ],
)
def test_a_rejected_copy_value_is_named_by_table_row_and_column_never_the_row(context, column):
    error = rejected_value_error(FakeCopyError(context), "raw.people", ("id", "age", "odd: name"))
    message = str(error)
    assert "raw.people" in message
    assert "row 7" in message
    assert "value out of range" in message
    assert (f"column {column!r}" in message) if column else "a column" in message
    assert "secret" not in message
    assert "stg_x_1" not in message


def test_other_errors_are_not_taken_for_rejected_values():
    assert rejected_value_error(RuntimeError("boom"), "raw.t", ("id",)) is None
