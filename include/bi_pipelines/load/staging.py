"""Three ways to fill a load's temporary staging table, one per kind of warehouse.

- :func:`stage_copy`: PostgreSQL ``COPY ... FROM STDIN`` (the source's own COPY text when it
  has some, else the rows encoded here).
- :func:`stage_s3`: Redshift with a staging bucket: gzip CSV files in S3, then one ``COPY``.
- :func:`stage_insert`: Redshift without one: batched multi-row ``INSERT`` statements.

Each returns the number of rows staged; none commits (the caller's transaction publishes).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
from collections.abc import Callable
from typing import Any

from bi_pipelines.db.pgcompat import copy_in
from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.copy_text import encode_rows
from bi_pipelines.load.redshift import S3Staging, csv_line

Quote = Callable[[str], str]


def _columns_sql(stream: RowStream, quote: Quote) -> str:
    return ", ".join(quote(c) for c in stream.columns)


def stage_copy(cur, staging: str, stream: RowStream, quote: Quote) -> int:
    """``COPY`` the stream into ``staging`` (PostgreSQL)."""
    chunks = stream.copy_chunks() if stream.copy_chunks else encode_rows(stream.batches())
    return copy_in(cur, f"COPY {staging} ({_columns_sql(stream, quote)}) FROM STDIN", chunks)


def _insert_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def stage_insert(cur, staging: str, stream: RowStream, quote: Quote, batch_rows: int) -> int:
    """Insert the stream into ``staging`` with multi-row ``INSERT``s of ``batch_rows`` rows."""
    columns = _columns_sql(stream, quote)
    row_sql = "(" + ", ".join(["%s"] * len(stream.columns)) + ")"
    staged = 0
    for rows in iter_batches(itertools.chain.from_iterable(stream.batches()), batch_rows):
        cur.execute(
            f"INSERT INTO {staging} ({columns}) VALUES {', '.join([row_sql] * len(rows))}",
            [_insert_value(v) for row in rows for v in row],
        )
        staged += len(rows)
    return staged


def stage_s3(cur, staging: str, stream: RowStream, quote: Quote, s3: S3Staging, load_id: str) -> int:
    """Write one gzip CSV file per batch under the load's S3 prefix, then ``COPY`` them (Redshift)."""
    prefix = f"{s3.prefix.strip('/')}/{load_id}/"
    staged = 0
    part = 0
    for batch in stream.batches():
        if not batch:
            continue
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=3) as gz:
            gz.write("".join(csv_line(row) for row in batch).encode("utf-8"))
        s3.put(buffer.getvalue(), f"{prefix}part-{part:05d}.csv.gz")
        staged += len(batch)
        part += 1
    if staged:
        cur.execute(s3.copy_sql(staging, _columns_sql(stream, quote), prefix))
    return staged


__all__ = ["stage_copy", "stage_insert", "stage_s3"]
