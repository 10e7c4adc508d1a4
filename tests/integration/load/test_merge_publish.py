"""Merges: ``DELETE`` + ``INSERT``, with repeated keys refused by the primary key or counted first."""

from __future__ import annotations

import pytest

from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import DuplicateKeyError, Merge, has_unique_key
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse

COLUMNS = (Column("id", "integer"), Column("note", "text"), Column("amount", "numeric(8,2)"))
WITH_PK = TargetTable("raw_merge", "with_pk", COLUMNS, ("id",))
WITHOUT_PK = TargetTable("raw_merge", "without_pk", COLUMNS)


def stream(rows, columns=("id", "note", "amount")) -> RowStream:
    return RowStream(columns, batches=lambda: iter([list(rows)]))


@pytest.fixture
def wh(pg_db):
    warehouse = Warehouse(pg_db.connect())
    yield warehouse
    warehouse.close()


def rows_of(pg_db, table: str) -> list[tuple]:
    return pg_db.query(f"SELECT id, note, amount::text FROM raw_merge.{table} ORDER BY id")


@pytest.mark.parametrize("target", [WITH_PK, WITHOUT_PK], ids=["primary-key", "no-key"])
def test_a_merge_replaces_staged_keys_inserts_the_rest_and_is_idempotent(wh, pg_db, target):
    wh.ensure_table(target)
    first = wh.load(target, stream([(1, "a", 1), (2, "b", 2), (3, None, 3)]), Merge(("id",)))
    assert (first.rows_deleted, first.rows_inserted) == (0, 3)
    window = [(2, "b2", 20), (3, "c", None), (4, "d", 4)]
    second = wh.load(target, stream(window), Merge(("id",)))
    assert (second.rows_staged, second.rows_deleted, second.rows_inserted) == (3, 2, 3)
    expected = [(1, "a", "1.00"), (2, "b2", "20.00"), (3, "c", None), (4, "d", "4.00")]
    assert rows_of(pg_db, target.table) == expected
    again = wh.load(target, stream(window), Merge(("id",)))
    assert (again.rows_deleted, again.rows_inserted) == (3, 3)
    assert rows_of(pg_db, target.table) == expected


def test_a_target_column_the_stream_lacks_is_set_to_null_as_by_delete_and_insert(wh, pg_db):
    wh.ensure_table(WITH_PK)
    wh.load(WITH_PK, stream([(1, "a", 1)]), Merge(("id",)))
    wh.load(WITH_PK, stream([(1, "a2")], ("id", "note")), Merge(("id",)))
    assert rows_of(pg_db, "with_pk") == [(1, "a2", None)]


def test_a_key_only_table_merges(wh, pg_db):
    target = TargetTable("raw_merge", "keys", (Column("id", "integer"),), ("id",))
    wh.ensure_table(target)
    wh.load(target, stream([(1,), (2,)], ("id",)), Merge(("id",)))
    result = wh.load(target, stream([(2,), (3,)], ("id",)), Merge(("id",)))
    assert (result.rows_deleted, result.rows_inserted) == (1, 2)
    assert pg_db.query("SELECT id FROM raw_merge.keys ORDER BY id") == [(1,), (2,), (3,)]


@pytest.mark.parametrize(
    ("existing", "bulk_rows"),
    [([(1, "a", 1)], None), ([(9, "z", 9)], None), ([], 2)],
    ids=["key-in-target", "new-key", "empty-target-key-built-after"],
)
def test_duplicate_staged_keys_fail_with_their_count_and_publish_nothing(
    wh, pg_db, monkeypatch, existing, bulk_rows
):
    import bi_pipelines.load.warehouse as warehouse_module

    if bulk_rows is not None:
        monkeypatch.setattr(warehouse_module, "BULK_INITIAL_ROWS", bulk_rows)
    wh.ensure_table(WITH_PK)
    if existing:
        wh.load(WITH_PK, stream(existing), Merge(("id",)))
    before = rows_of(pg_db, "with_pk")
    with pytest.raises(DuplicateKeyError, match=r"raw_merge\.with_pk: the source sent 2 key\(s\) of \(id\)"):
        wh.load(
            WITH_PK, stream([(1, "x", 1), (1, "y", 2), (2, "p", 1), (2, "q", 1), (3, "r", 3)]), Merge(("id",))
        )
    assert rows_of(pg_db, "with_pk") == before
    # The transaction was rolled back whole: the key is there and the next load merges.
    result = wh.load(WITH_PK, stream([(1, "x", 1), (3, "r", 3)]), Merge(("id",)))
    assert result.rows_inserted == 2
    with wh.transaction() as cur:
        assert has_unique_key(cur, "raw_merge", "with_pk", ("id",))


def test_another_unique_index_refusing_a_row_keeps_the_servers_error(wh, pg_db):
    wh.ensure_table(WITH_PK)
    pg_db.execute("CREATE UNIQUE INDEX with_pk_note ON raw_merge.with_pk (note)")
    with pytest.raises(Exception, match="with_pk_note") as failure:
        wh.load(WITH_PK, stream([(1, "same", 1), (2, "same", 2)]), Merge(("id",)))
    assert not isinstance(failure.value, DuplicateKeyError)
    assert rows_of(pg_db, "with_pk") == []


def test_only_a_not_null_unique_key_on_exactly_the_key_columns_refuses_repeated_keys(wh, pg_db):
    wh.ensure_table(WITH_PK)
    wh.ensure_table(WITHOUT_PK)
    pg_db.execute(
        "CREATE TABLE raw_merge.nullable (id integer UNIQUE, note text)",
        "CREATE TABLE raw_merge.composite (id integer, note text, PRIMARY KEY (id, note))",
        "CREATE TABLE raw_merge.partial (id integer NOT NULL, note text)",
        "CREATE UNIQUE INDEX ON raw_merge.partial (id) WHERE note IS NOT NULL",
        "CREATE TABLE raw_merge.unique_nn (id integer NOT NULL, note text NOT NULL, UNIQUE (note, id))",
    )
    with wh.transaction() as cur:
        assert has_unique_key(cur, "raw_merge", "with_pk", ("id",))
        assert not has_unique_key(cur, "raw_merge", "without_pk", ("id",))
        assert not has_unique_key(cur, "raw_merge", "nullable", ("id",))
        assert not has_unique_key(cur, "raw_merge", "composite", ("id",))
        assert has_unique_key(cur, "raw_merge", "composite", ("id", "note"))
        assert not has_unique_key(cur, "raw_merge", "partial", ("id",))
        assert has_unique_key(cur, "raw_merge", "unique_nn", ("id", "note"))
        assert not has_unique_key(cur, "raw_merge", "missing", ("id",))
        assert not has_unique_key(cur, "raw_merge", "with_pk", ())


def test_a_large_first_load_builds_the_primary_key_after_the_insert(wh, pg_db, monkeypatch):
    import bi_pipelines.load.warehouse as warehouse_module

    monkeypatch.setattr(warehouse_module, "BULK_INITIAL_ROWS", 2)
    wh.ensure_table(WITH_PK)
    key_sql = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'raw_merge.with_pk'::regclass AND contype = 'p'"
    )
    key = pg_db.query(key_sql)
    first = wh.load(WITH_PK, stream([(1, "a", 1), (2, "b", 2), (3, "c", 3)]), Merge(("id",)))
    assert (first.rows_deleted, first.rows_inserted) == (0, 3)
    assert pg_db.query(key_sql) == key  # rebuilt under its own name
    # The table is no longer empty: the next load merges on the key.
    second = wh.load(WITH_PK, stream([(3, "c2", 3), (4, "d", 4)]), Merge(("id",)))
    assert (second.rows_deleted, second.rows_inserted) == (1, 2)
    assert [r[:2] for r in rows_of(pg_db, "with_pk")] == [(1, "a"), (2, "b"), (3, "c2"), (4, "d")]
    with pytest.raises(DuplicateKeyError):
        wh.load(WITH_PK, stream([(5, "e", 5), (5, "f", 5)]), Merge(("id",)))
    assert pg_db.query(key_sql) == key


def test_a_failed_first_load_keeps_the_primary_key(wh, pg_db, monkeypatch):
    import bi_pipelines.load.warehouse as warehouse_module

    monkeypatch.setattr(warehouse_module, "BULK_INITIAL_ROWS", 2)
    wh.ensure_table(WITH_PK)
    # A value the target rejects only on insert (numeric(8,2) overflow is checked when staging,
    # so make the insert itself fail with a check constraint).
    pg_db.execute("ALTER TABLE raw_merge.with_pk ADD CHECK (id < 100)")
    with pytest.raises(Exception, match="check constraint"):
        wh.load(WITH_PK, stream([(1, "a", 1), (200, "b", 2)]), Merge(("id",)))
    with wh.transaction() as cur:
        assert has_unique_key(cur, "raw_merge", "with_pk", ("id",))
    assert rows_of(pg_db, "with_pk") == []


@pytest.mark.parametrize(("target", "checks"), [(WITH_PK, 0), (WITHOUT_PK, 1)], ids=["primary-key", "no-key"])
def test_staged_keys_are_counted_first_only_where_no_unique_index_refuses_repeats(
    wh, pg_db, monkeypatch, target, checks
):
    import bi_pipelines.load.warehouse as warehouse_module

    wh.ensure_table(target)
    calls: list[str] = []
    real = warehouse_module.check_unique_keys
    monkeypatch.setattr(
        warehouse_module, "check_unique_keys", lambda *args: calls.append("check") or real(*args)
    )
    result = wh.load(target, stream([(1, "a", 1), (2, "b", 2)]), Merge(("id",)))
    assert result.rows_inserted == 2
    assert len(calls) == checks
