"""Three ways to fill a load's temporary staging table, one per kind of warehouse.

- :func:`stage_copy`: PostgreSQL ``COPY ... FROM STDIN`` (the source's own COPY text when it
  has some, else the rows encoded here).
- :func:`stage_s3`: Redshift with a staging bucket: gzip CSV files in S3, then one ``COPY``.
- :func:`stage_insert`: Redshift without one: batched multi-row ``INSERT`` statements.

Each returns the number of rows staged; none commits (the caller's transaction publishes).
Each strips NUL characters from text values (PostgreSQL and Redshift text cannot hold them) and
counts the values changed in the :class:`~bi_pipelines.load.copy_text.NulCounter` it is given.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from bi_pipelines.core.errors import PermanentError
from bi_pipelines.db.pgcompat import BinaryCopyStream, copy_in
from bi_pipelines.db.rows import RowStream, iter_batches, prefetched
from bi_pipelines.load.copy_text import NulCounter, encode_rows
from bi_pipelines.load.redshift import S3Staging, csv_line
from bi_pipelines.load.tables import normalise_type

Quote = Callable[[str], str]


class RejectedValueError(PermanentError):
    """The warehouse rejected a staged value (out of range, invalid syntax); a retry cannot help."""


def _columns_sql(stream: RowStream, quote: Quote) -> str:
    return ", ".join(quote(c) for c in stream.columns)


_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (?P<line>\d+)(?P<rest>.*)", re.DOTALL)


def rejected_value_error(
    exc: BaseException, target: str, columns: tuple[str, ...]
) -> RejectedValueError | None:
    """The error to raise for a ``COPY`` the server rejected, or None when ``exc`` is not one.

    PostgreSQL puts ``COPY stg_x, line N, column C: "<value>"`` in the error's context; the
    message kept here names the target table, the row (line N is row N of the stream) and the
    column, with the server's primary message, but never the context's text: for some errors it
    holds the whole input line, which may hold personal data.
    """
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", None) or ""
    match = _COPY_CONTEXT.search(context)
    if match is None:
        return None
    rest = match["rest"]
    column = None
    # Match against the known column names (longest first): a name may contain ':' or ','.
    for name in sorted(columns, key=len, reverse=True):
        if rest == f", column {name}" or rest.startswith(f", column {name}:"):
            column = name
            break
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    where = f"column {column!r}" if column else "a column"
    return RejectedValueError(
        f"{target}: the warehouse rejected the value of {where} in row {match['line']} of the "
        f"load: {primary} (SQLSTATE {getattr(exc, 'pgcode', None) or getattr(diag, 'sqlstate', None)}). "
        "Fix the value at the source or widen the target column"
    )


def stage_copy(
    cur,
    staging: str,
    stream: RowStream,
    quote: Quote,
    nul: NulCounter | None = None,
    target: str | None = None,
    binary: bool = False,
) -> int:
    """``COPY`` the stream into ``staging`` (PostgreSQL).

    ``binary``: copy the stream's binary COPY output (a :class:`BinaryCopyStream` whose
    ``binary_types`` are exactly the staging columns' types; see :func:`binary_fits`).

    Raises:
        RejectedValueError: the server rejected a value; names ``target``, the row and the column.
    """
    nul = nul if nul is not None else NulCounter()
    chunks: Iterator[bytes]
    options = ""
    if binary:
        # PostgreSQL text never holds NUL, so there is nothing to strip.
        if not isinstance(stream, BinaryCopyStream) or stream.binary_chunks is None:
            raise TypeError("binary staging needs a BinaryCopyStream with binary chunks")
        chunks, options = stream.binary_chunks(), " (FORMAT binary)"
    elif stream.copy_chunks:
        chunks = (nul.copy_text(chunk) for chunk in stream.copy_chunks())
    else:
        chunks = encode_rows(stream.batches(), nul)
    # The source is read, and its chunks prepared, in a thread while earlier chunks are copied.
    reader = prefetched(chunks)
    try:
        return copy_in(cur, f"COPY {staging} ({_columns_sql(stream, quote)}) FROM STDIN{options}", reader)
    except Exception as exc:
        rejected = rejected_value_error(exc, target or staging, stream.columns)
        if rejected is None:
            raise
        # from None: the driver's error carries the context, which may hold a whole input row.
        raise rejected from None
    finally:
        # Stops and joins the reading thread now, not when the generator is collected: the
        # caller closes the source connection next.
        reader.close()


def binary_fits(stream: RowStream, staging_types: dict[str, str]) -> bool:
    """Whether ``stream`` can be staged by binary COPY into columns of ``staging_types``.

    Binary COPY input is read by each column's type's receive function without any check of
    the sender's type: it is used only when every streamed column has exactly its source type.
    """
    if not isinstance(stream, BinaryCopyStream) or stream.binary_chunks is None:
        return False
    return all(
        name in staging_types and normalise_type(staging_types[name]) == normalise_type(type_)
        for name, type_ in zip(stream.columns, stream.binary_types, strict=True)
    )


def _insert_value(value: Any, nul: NulCounter) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(nul.json(value), ensure_ascii=False, default=str)
    if isinstance(value, str):
        return nul.text(value)
    return value


def stage_insert(
    cur, staging: str, stream: RowStream, quote: Quote, batch_rows: int, nul: NulCounter | None = None
) -> int:
    """Insert the stream into ``staging`` with multi-row ``INSERT``s of ``batch_rows`` rows."""
    nul = nul if nul is not None else NulCounter()
    columns = _columns_sql(stream, quote)
    row_sql = "(" + ", ".join(["%s"] * len(stream.columns)) + ")"
    staged = 0
    for rows in iter_batches(itertools.chain.from_iterable(stream.batches()), batch_rows):
        cur.execute(
            f"INSERT INTO {staging} ({columns}) VALUES {', '.join([row_sql] * len(rows))}",
            [_insert_value(v, nul) for row in rows for v in row],
        )
        staged += len(rows)
    return staged


def stage_s3(
    cur,
    staging: str,
    stream: RowStream,
    quote: Quote,
    s3: S3Staging,
    load_id: str,
    nul: NulCounter | None = None,
) -> int:
    """Write one gzip CSV file per batch under the load's S3 prefix, then ``COPY`` them (Redshift)."""
    nul = nul if nul is not None else NulCounter()
    prefix = f"{s3.prefix.strip('/')}/{load_id}/"
    staged = 0
    part = 0
    for batch in stream.batches():
        if not batch:
            continue
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=3) as gz:
            gz.write("".join(csv_line([_insert_value(v, nul) for v in row]) for row in batch).encode("utf-8"))
        s3.put(buffer.getvalue(), f"{prefix}part-{part:05d}.csv.gz")
        staged += len(batch)
        part += 1
    if staged:
        cur.execute(s3.copy_sql(staging, _columns_sql(stream, quote), prefix))
    return staged


__all__ = [
    "RejectedValueError",
    "binary_fits",
    "rejected_value_error",
    "stage_copy",
    "stage_insert",
    "stage_s3",
]
