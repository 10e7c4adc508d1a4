"""The few PostgreSQL driver operations the load path needs, for psycopg 3 and psycopg2.

Airflow's postgres provider hands out psycopg 3 connections when psycopg 3 and SQLAlchemy 2 are
installed (as here) and psycopg2 connections otherwise; tests and tools may use either.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

COPY_CHUNK_BYTES = 1 << 20


def is_psycopg3(conn) -> bool:
    return type(conn).__module__.split(".")[0] == "psycopg"


def is_postgres_driver(conn) -> bool:
    return type(conn).__module__.split(".")[0] in ("psycopg", "psycopg2")


def quote_ident(conn, identifier: str) -> str:
    """Quote an identifier with the driver's own quoting."""
    if is_psycopg3(conn):
        from psycopg import sql

        return sql.Identifier(identifier).as_string(conn)
    from psycopg2.extensions import quote_ident as pg2_quote_ident

    return pg2_quote_ident(identifier, conn)


def literal(conn, value) -> str:
    """Render ``value`` as an SQL literal with the driver's own adaptation (for COPY statements,
    which take no parameters)."""
    if is_psycopg3(conn):
        from psycopg import sql

        return sql.Literal(value).as_string(conn)
    from psycopg2.extensions import adapt

    adapted = adapt(value)
    if hasattr(adapted, "prepare"):
        adapted.prepare(conn)
    return adapted.getquoted().decode()


def copy_in(cur, statement: str, chunks: Iterable[bytes]) -> int:
    """Run ``COPY ... FROM STDIN`` fed by ``chunks``; return the number of rows copied."""
    if is_psycopg3(cur.connection):
        with cur.copy(statement) as copy:
            for chunk in chunks:
                copy.write(chunk)
        return cur.rowcount
    from bi_pipelines.load.copy_text import ChunkReader

    cur.copy_expert(statement, ChunkReader(chunks), size=COPY_CHUNK_BYTES)
    return cur.rowcount


def copy_out(conn, statement: str) -> Iterator[bytes]:
    """Run ``COPY (...) TO STDOUT`` and yield its output in chunks of about 1 MiB."""
    if is_psycopg3(conn):
        yield from _copy_out_libpq(conn, statement)
        return

    # psycopg2 only writes COPY output to a file object: run it in a thread feeding a queue.
    def produce(writer):
        with conn.cursor() as cur:
            cur.copy_expert(statement, writer, size=COPY_CHUNK_BYTES)
        conn.commit()

    yield from threaded_copy_out(produce)


def _copy_out_libpq(conn, statement: str) -> Iterator[bytes]:
    """COPY TO STDOUT through psycopg 3's libpq wrapper (``psycopg.pq``).

    psycopg's own ``Copy`` iterator goes through a Python-level wait loop for every row, which
    costs about three times the server's time; calling libpq's ``PQgetCopyData`` in blocking mode
    in a tight loop does not. The statement runs in its own implicit transaction (a read).
    """
    import psycopg
    from psycopg import pq

    pgconn = conn.pgconn

    def fail(message: bytes | None) -> None:
        while pgconn.get_result() is not None:  # leave the connection idle and usable
            pass
        raise psycopg.OperationalError((message or b"COPY failed").decode(errors="replace").strip())

    pgconn.send_query(statement.encode(conn.info.encoding))
    while pgconn.flush():
        pass
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        fail(result.error_message if result is not None else pgconn.error_message)
    buffer = bytearray()
    while True:
        nbytes, data = pgconn.get_copy_data(0)
        if nbytes > 0:
            buffer += data
            if len(buffer) >= COPY_CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        elif nbytes == -1:
            break
        else:
            fail(pgconn.error_message)
    if buffer:
        yield bytes(buffer)
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            fail(result.error_message)


# -- psycopg2: COPY OUT into a file object, read back as chunks ---------------------------------
class _Stop(Exception):
    pass


class QueueWriter:
    """A file object whose writes are gathered into ~1 MiB chunks and put on a bounded queue.

    Lets a driver that *writes* COPY output (``copy_expert(..., file)``) feed a driver that
    *reads* COPY input, with at most ``maxsize`` chunks in memory.
    """

    def __init__(self, q: queue.Queue, cancelled: threading.Event, chunk_bytes: int = 1 << 20):
        self._q = q
        self._cancelled = cancelled
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()

    def write(self, data) -> int:
        self._buffer += data if isinstance(data, bytes | bytearray | memoryview) else data.encode()
        if len(self._buffer) >= self._chunk_bytes:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush_all(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def _put(self, item) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Stop("the consumer stopped reading")
            try:
                self._q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def threaded_copy_out(produce: Callable[[QueueWriter], None], max_chunks: int = 8) -> Iterator[bytes]:
    """Run ``produce(writer)`` in a thread and yield what it writes, chunk by chunk.

    Errors in the producer are raised in the consumer; if the consumer stops early, the
    producer is cancelled at its next write.
    """
    q: queue.Queue = queue.Queue(maxsize=max_chunks)
    cancelled = threading.Event()
    done = object()
    failure: list[BaseException] = []

    def run():
        writer = QueueWriter(q, cancelled)
        try:
            produce(writer)
            writer.flush_all()
        except _Stop:
            return
        except BaseException as exc:
            failure.append(exc)
        try:
            while not cancelled.is_set():
                try:
                    q.put(done, timeout=0.5)
                    return
                except queue.Full:
                    continue
        except BaseException:  # pragma: no cover
            return

    thread = threading.Thread(target=run, name="copy-out", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        cancelled.set()
        thread.join(timeout=30)
