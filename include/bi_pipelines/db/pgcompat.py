"""The few PostgreSQL driver operations the load path needs, for psycopg 3 and psycopg2.

Airflow's postgres provider hands out psycopg 3 connections when psycopg 3 and SQLAlchemy 2 are
installed (as here); tests and tools also use psycopg2. Quoting and ``COPY FROM STDIN`` work
with both; ``COPY TO STDOUT`` (extraction, always through the provider) needs psycopg 3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bi_pipelines.db.rows import RowStream

COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class BinaryCopyStream(RowStream):
    """A PostgreSQL source's rows that can also come as ``COPY ... (FORMAT binary)``.

    ``binary_chunks`` yields the binary COPY output of the same rows as ``copy_chunks``;
    ``binary_types`` is each column's exact source type (``format_type``). Binary COPY carries
    no type names, so a target may take it only into columns of exactly these types. It spares
    both servers the formatting and parsing of text (see the relational README's benchmark).
    """

    binary_chunks: Callable[[], Iterator[bytes]] | None = None
    binary_types: tuple[str, ...] = ()


def is_psycopg3(conn) -> bool:
    """Whether ``conn`` is a psycopg 3 connection (else psycopg2's)."""
    return type(conn).__module__.split(".")[0] == "psycopg"


def is_postgres_driver(conn) -> bool:
    """Whether ``conn`` comes from a PostgreSQL driver (psycopg 3 or psycopg2)."""
    return type(conn).__module__.split(".")[0] in ("psycopg", "psycopg2")


def quote_ident(conn, identifier: str) -> str:
    """Quote an identifier with the driver's own quoting."""
    if is_psycopg3(conn):
        from psycopg import sql

        return sql.Identifier(identifier).as_string(conn)
    from psycopg2.extensions import quote_ident as pg2_quote_ident

    return pg2_quote_ident(identifier, conn)


def literal(conn, value) -> str:
    """Render ``value`` as an SQL literal with the driver's own adaptation.

    For COPY statements, which take no parameters.
    """
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
    """Run ``COPY (...) TO STDOUT`` and yield its output in chunks of about 1 MiB (psycopg 3).

    Raises:
        TypeError: for a connection of another driver (see :func:`is_psycopg3`).
    """
    if not is_psycopg3(conn):
        raise TypeError(f"COPY TO STDOUT needs a psycopg 3 connection, not {type(conn).__module__}")
    yield from _copy_out_libpq(conn, statement)


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
