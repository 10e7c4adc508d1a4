"""The timings a table's extraction logs: when the first statement goes to the source, and each step."""

from __future__ import annotations

import time

from bi_pipelines.db.rows import RowStream
from bi_pipelines.sources.relational import pipeline
from bi_pipelines.sources.relational.pipeline import StepClock, open_source


class RecordingConnection:
    """A DB-API connection that records every statement and answers the MySQL reader's one query."""

    def __init__(self):
        self.statements: list[str] = []

    def cursor(self, *args):
        conn = self

        class Cursor:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def execute(self, sql, params=None):
                conn.statements.append(sql)

            def fetchone(self):
                return ("obe", "10.11.11-MariaDB")

        return Cursor()

    def close(self):
        pass


def test_the_first_source_query_is_logged_before_the_first_source_statement(monkeypatch):
    conn = RecordingConnection()
    monkeypatch.setattr(pipeline, "get_connection", lambda conn_id: "the airflow connection")
    monkeypatch.setattr(pipeline, "open_dbapi", lambda conn_id, airflow_conn: (conn, "mysql", {}))
    logged = []
    monkeypatch.setattr(
        pipeline.log, "info", lambda message, *args: logged.append((message % args, len(conn.statements)))
    )

    clock = StepClock()
    source = open_source("mysql", "obe_mysql", clock, "extract_obe_mysql.bookings")

    assert len(logged) == 1
    message, statements_by_then = logged[0]
    assert statements_by_then == 0
    assert conn.statements  # the reader's session settings came after
    assert message.startswith("extract_obe_mysql.bookings: source connected in ")
    assert f"first source query {clock.marks['source connected']:.3f} s after the task started" in message
    marks = clock.marks
    assert (
        marks["source opening"]
        <= marks["source looked up"]
        <= marks["source connected"]
        <= marks["source ready"]
    )
    source.close()


def test_marks_are_seconds_since_the_task_started():
    clock = StepClock(time.monotonic() - 2.0)
    clock.mark("begin")
    clock.mark("connected")

    assert 2.0 <= clock.marks["begin"] <= clock.marks["connected"] < 3.0
    assert 0 <= clock.between("begin", "connected") < 1.0
    assert clock.between("start", "begin") == clock.marks["begin"]


def test_the_first_row_is_marked_when_the_first_batch_arrives():
    clock = StepClock()
    arrived = []

    def batches():
        arrived.append("first")
        yield [(1,)]
        time.sleep(0.05)
        yield [(2,)]

    stream = clock.noting_first(RowStream(("id",), batches=batches), "first row")
    assert "first row" not in clock.marks  # nothing read yet
    produced = stream.batches()
    assert next(produced) == [(1,)]
    first = clock.marks["first row"]
    assert list(produced) == [[(2,)]]
    assert clock.marks["first row"] == first  # the later batch does not move it
    assert stream.copy_chunks is None


def test_copy_chunks_are_noted_too():
    clock = StepClock()
    stream = clock.noting_first(
        RowStream(("id",), batches=lambda: iter([]), copy_chunks=lambda: iter([b"1\n"])), "first row"
    )
    assert list(stream.batches()) == []
    assert "first row" not in clock.marks  # an empty read has no first row
    assert list(stream.copy_chunks()) == [b"1\n"]
    assert "first row" in clock.marks
