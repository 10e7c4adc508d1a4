"""The load path against the local PostgreSQL: no silent value change, no deadlock, no race,
linear publishes, NUL characters, rejected values and bounded sessions."""

from __future__ import annotations

import decimal
import json
import threading
import time

import pytest

from bi_pipelines.core.errors import PermanentError, SchemaError
from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import DuplicateKeyError, Merge, ReplaceAll, ReplacePartitions
from bi_pipelines.load.staging import RejectedValueError
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse, WarehouseTimeout


def rows_stream(columns, rows):
    return RowStream(tuple(columns), batches=lambda: iter([list(rows)]))


def column_type(pg_db, schema, table, column):
    return pg_db.query(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attname = %s",
        (f"{schema}.{table}", column),
    )[0][0]


# -- schema changes ----------------------------------------------------------------------------
def target_with(amount_type="numeric(10,2)", qty_type="integer", code_type="varchar(5)", schema="raw_sc"):
    return TargetTable(
        schema,
        "orders",
        (
            Column("id", "integer"),
            Column("amount", amount_type),
            Column("qty", qty_type),
            Column("code", code_type),
        ),
        ("id",),
    )


def test_a_widened_decimal_integer_and_varchar_are_widened_in_the_target(pg_db):
    wh = Warehouse(pg_db.connect())
    old = target_with()
    wh.ensure_table(old)
    wh.load(old, rows_stream(old.column_names, [(1, decimal.Decimal("1.25"), 7, "ab")]), Merge(("id",)))

    new = target_with("DECIMAL(14,4)", "bigint", "varchar(50)")
    wh.ensure_table(new)
    big = 2**40
    result = wh.load(
        new,
        rows_stream(new.column_names, [(2, decimal.Decimal("12345.6789"), big, "a much longer code")]),
        Merge(("id",)),
    )
    wh.close()
    assert pg_db.query("SELECT amount, qty, code FROM raw_sc.orders WHERE id = 2") == [
        (decimal.Decimal("12345.6789"), big, "a much longer code")
    ]
    assert column_type(pg_db, "raw_sc", "orders", "amount") == "numeric(14,4)"
    assert column_type(pg_db, "raw_sc", "orders", "qty") == "bigint"
    assert column_type(pg_db, "raw_sc", "orders", "code") == "character varying(50)"
    assert set(result.columns_widened) == {"amount", "qty", "code"}
    assert "widened columns" in result.summary()


@pytest.mark.parametrize(
    ("new", "column", "old_type", "new_type"),
    [
        (target_with(amount_type="numeric(12,1)"), "amount", "numeric(10,2)", "numeric(12,1)"),
        (target_with(qty_type="smallint"), "qty", "integer", "smallint"),
        (target_with(code_type="varchar(3)"), "code", "character varying(5)", "character varying(3)"),
        (target_with(qty_type="text"), "qty", "integer", "text"),
    ],
)
def test_a_narrowing_or_a_change_of_kind_fails_at_once_naming_everything(
    pg_db, new, column, old_type, new_type
):
    wh = Warehouse(pg_db.connect())
    wh.ensure_table(target_with())
    with pytest.raises(SchemaError) as raised:
        wh.ensure_table(new)
    with pytest.raises(SchemaError):
        wh.load(new, rows_stream(("id",), [(1,)]), Merge(("id",)))
    wh.close()
    message = str(raised.value)
    assert isinstance(raised.value, PermanentError)
    for part in ("raw_sc.orders", repr(column), old_type, new_type):
        assert part in message


def test_redshift_widens_varchar_and_refuses_numeric_in_place(pg_db):
    wh = Warehouse(pg_db.connect(), "redshift")
    old = target_with(code_type="varchar(5)", schema="raw_rs")
    wh.ensure_table(old)
    new = target_with(code_type="varchar(50)", schema="raw_rs")
    wh.ensure_table(new)
    wh.load(new, rows_stream(("id", "code"), [(1, "longer than five")]), Merge(("id",)))
    assert pg_db.query("SELECT code FROM raw_rs.orders") == [("longer than five",)]
    with pytest.raises(SchemaError, match=r"raw_rs.orders.*'amount'.*Redshift can only widen VARCHAR"):
        wh.load(target_with("numeric(14,4)", schema="raw_rs"), rows_stream(("id",), [(2,)]), Merge(("id",)))
    wh.close()


# -- first-time DDL under concurrency ------------------------------------------------------------
@pytest.mark.parametrize("round_", range(3))
def test_parallel_first_time_ddl_and_loads_on_a_fresh_schema_all_succeed(pg_db, round_):
    threads_n = 8
    schema = f"raw_race_{round_}"
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    warehouses = [Warehouse(pg_db.connect()) for _ in range(threads_n)]

    def work(i: int) -> None:
        # Half the tasks share one table, the others each have their own in the same schema.
        table = "shared" if i % 2 else f"own_{i}"
        target = TargetTable(schema, table, (Column("id", "integer"), Column("note", "text")), ("id",))
        try:
            barrier.wait(timeout=30)
            warehouses[i].ensure_table(target)
            warehouses[i].load(target, rows_stream(("id", "note"), [(i, f"n{i}")]), Merge(("id",)))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for wh in warehouses:
        wh.close()
    assert errors == []
    assert pg_db.query(f"SELECT count(*) FROM {schema}.shared") == [(threads_n // 2,)]


# -- full refreshes: no deadlock, readers not blocked --------------------------------------------
FULL = TargetTable("raw_full", "items", (Column("id", "integer"), Column("note", "text")), ("id",))


def test_two_overlapping_full_refreshes_of_one_table_both_succeed(pg_db):
    setup = Warehouse(pg_db.connect())
    setup.ensure_table(FULL)
    setup.load(FULL, rows_stream(("id", "note"), [(i, "old") for i in range(100)]), ReplaceAll())
    setup.close()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def refresh(i: int) -> None:
        wh = Warehouse(pg_db.connect())
        try:
            barrier.wait(timeout=30)
            wh.load(
                FULL,
                rows_stream(("id", "note"), [(j, f"new{i}") for j in range(50)]),
                ReplaceAll(),
                lambda _c: time.sleep(0.5),
            )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            wh.close()

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert pg_db.query("SELECT count(*), count(DISTINCT note) FROM raw_full.items") == [(50, 1)]


def test_a_reader_is_not_blocked_by_a_full_refresh_and_sees_the_old_rows(pg_db):
    wh = Warehouse(pg_db.connect())
    wh.ensure_table(FULL)
    wh.load(FULL, rows_stream(("id", "note"), [(i, "old") for i in range(10)]), ReplaceAll())
    seen: list = []

    def read_while_publishing(_cur) -> None:
        reader = pg_db.connect()
        try:
            with reader.cursor() as cur:
                cur.execute("SET lock_timeout = '2s'")
                cur.execute("SELECT count(*), min(note) FROM raw_full.items")
                seen.append(cur.fetchone())
            reader.rollback()
        finally:
            reader.close()

    # The hook runs under the publish lock; the reader runs once before and once after the
    # target's rows are deleted (still in the open transaction).
    import bi_pipelines.load.warehouse as warehouse_module

    original = warehouse_module.delete_for

    def delete_then_read(*args, **kwargs):
        count = original(*args, **kwargs)
        read_while_publishing(None)
        return count

    warehouse_module.delete_for = delete_then_read
    try:
        wh.load(FULL, rows_stream(("id", "note"), [(1, "new")]), ReplaceAll(), read_while_publishing)
    finally:
        warehouse_module.delete_for = original
    wh.close()
    assert seen == [(10, "old"), (10, "old")]
    assert pg_db.query("SELECT count(*) FROM raw_full.items") == [(1,)]


# -- linear publishes ---------------------------------------------------------------------------
PARTS = TargetTable(
    "raw_parts",
    "report",
    (Column("_attachment_sha256", "text"), Column("_row_number", "integer"), Column("v", "text")),
)


def test_replacing_a_big_partition_by_itself_is_linear(pg_db):
    # 20k rows of one partition: a quadratic delete pairs 400 million rows (minutes); the
    # statement timeout turns that into a failure instead of a slow test.
    wh = Warehouse(pg_db.connect(), statement_timeout=20)
    wh.ensure_table(PARTS)
    rows = [("sha-a", i, f"v{i}") for i in range(20_000)]
    wh.load(PARTS, rows_stream(PARTS.column_names, rows), ReplacePartitions(("_attachment_sha256",)))
    started = time.monotonic()
    result = wh.load(PARTS, rows_stream(PARTS.column_names, rows), ReplacePartitions(("_attachment_sha256",)))
    elapsed = time.monotonic() - started
    wh.close()
    assert (result.rows_deleted, result.rows_inserted) == (20_000, 20_000)
    assert elapsed < 10


def test_a_merge_that_stages_one_key_twice_fails_clearly_and_publishes_nothing(pg_db):
    wh = Warehouse(pg_db.connect())
    target = TargetTable("raw_dup", "t", (Column("id", "integer"), Column("note", "text")))
    wh.ensure_table(target)
    with pytest.raises(
        DuplicateKeyError, match=r"raw_dup.t: the source sent 1 key\(s\) of \(id\) more than once"
    ):
        wh.load(target, rows_stream(("id", "note"), [(1, "a"), (1, "b"), (2, "c")]), Merge(("id",)))
    wh.close()
    assert pg_db.query("SELECT count(*) FROM raw_dup.t") == [(0,)]


# -- NUL characters -----------------------------------------------------------------------------
NULS = TargetTable(
    "raw_nul",
    "t",
    (Column("id", "integer"), Column("name", "text"), Column("doc", "jsonb"), Column("raw", "bytea")),
    ("id",),
)


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_nul_is_stripped_from_text_and_json_and_counted_bytes_keep_it(pg_db, dialect, caplog):
    target = NULS if dialect == "postgres" else TargetTable("raw_nul", "t", NULS.columns[:3], ("id",))
    wh = Warehouse(pg_db.connect(), dialect)
    wh.ensure_table(target)
    rows = [
        (1, "Acme\x00 Inc", {"k": "x\x00y", "n\x00": [1, "\x00"]}, b"\x00\x01"),
        (2, "clean", {"k": "v"}, b"\x00"),
        (3, "\x00\x00", None, None),
    ]
    rows = [r[: len(target.columns)] for r in rows]
    caplog.set_level("WARNING")
    result = wh.load(target, rows_stream(target.column_names, rows), Merge(("id",)))
    wh.close()
    assert result.nul_stripped == 3
    assert result.summary().endswith(", stripped NUL from 3 value(s)")
    assert "raw_nul.t: stripped NUL characters from 3 text value(s)" in caplog.text
    got = [
        (i, name, json.loads(doc) if isinstance(doc, str) else doc)  # Redshift keeps JSON as text
        for i, name, doc in pg_db.query("SELECT id, name, doc FROM raw_nul.t ORDER BY id")
    ]
    assert got == [(1, "Acme Inc", {"k": "xy", "n": [1, ""]}), (2, "clean", {"k": "v"}), (3, "", None)]
    if dialect == "postgres":
        assert pg_db.query("SELECT raw FROM raw_nul.t ORDER BY id")[0][0].tobytes() == b"\x00\x01"


def test_nul_in_a_sources_copy_text_is_stripped_and_counted(pg_db):
    target = TargetTable("raw_nul", "c", (Column("id", "integer"), Column("name", "text")))
    wh = Warehouse(pg_db.connect())
    wh.ensure_table(target)
    stream = RowStream(
        ("id", "name"),
        batches=lambda: iter([]),
        copy_chunks=lambda: iter([b"1\ta\x00b\n2\tc\n", b"3\t\x00\n"]),
    )
    result = wh.load(target, stream, ReplaceAll())
    wh.close()
    assert result.nul_stripped == 2
    assert pg_db.query("SELECT id, name FROM raw_nul.c ORDER BY id") == [(1, "ab"), (2, "c"), (3, "")]


# -- rejected values ----------------------------------------------------------------------------
def test_a_value_copy_rejects_is_reported_by_table_column_and_row_without_the_row(pg_db):
    target = TargetTable(
        "raw_bad", "people", (Column("id", "integer"), Column("email", "text"), Column("age", "smallint"))
    )
    wh = Warehouse(pg_db.connect())
    wh.ensure_table(target)
    rows = [(1, "a@example.com", 30), (2, "private.person@example.com", 70000)]
    with pytest.raises(RejectedValueError) as raised:
        wh.load(target, rows_stream(target.column_names, rows), ReplaceAll())
    message = str(raised.value)
    assert "raw_bad.people" in message
    assert "column 'age'" in message
    assert "row 2" in message
    assert "private.person" not in message
    assert "stg_" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert wh.query("SELECT 1") == [(1,)]
    wh.close()


# -- bounded sessions ---------------------------------------------------------------------------
def test_a_load_behind_an_exclusive_lock_fails_after_lock_timeout_saying_what_it_waited_for(pg_db):
    target = TargetTable("raw_obe", "bookings", (Column("id", "integer"),), ("id",))
    setup = Warehouse(pg_db.connect())
    setup.ensure_table(target)
    setup.close()
    holder = pg_db.connect()
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE raw_obe.bookings IN ACCESS EXCLUSIVE MODE")
    # Released after 8 s at the latest, so that a load without a lock timeout ends too.
    release = threading.Timer(8, holder.rollback)
    release.start()
    try:
        wh = Warehouse(pg_db.connect(), lock_timeout=1)
        started = time.monotonic()
        with pytest.raises(WarehouseTimeout) as raised:
            wh.load(target, rows_stream(("id",), [(1,)]), Merge(("id",)))
        elapsed = time.monotonic() - started
        assert wh.query("SELECT 1") == [(1,)]
        wh.close()
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert elapsed < 4
    assert (
        "waited 1 s for a lock on raw_obe.bookings (another load or a reader holding an exclusive lock)"
        in str(raised.value)
    )
    assert "lock_timeout is the connection extra" in str(raised.value)


def test_warehouse_sessions_take_their_timeouts_from_the_connection_extra(pg_db, airflow_conn):
    airflow_conn("wh_bounded", pg_db, "postgres", statement_timeout=90, lock_timeout=7)
    airflow_conn("wh_default", pg_db, "postgres")
    with Warehouse.connect("wh_bounded") as wh:
        assert wh.query("SHOW statement_timeout") == [("90s",)]
        assert wh.query("SHOW lock_timeout") == [("7s",)]
    with Warehouse.connect("wh_default") as wh:
        assert wh.query("SHOW statement_timeout") == [("30min",)]
        assert wh.query("SHOW lock_timeout") == [("5min",)]
