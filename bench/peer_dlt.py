"""One dlt run for ``bench_peers.py``: runs inside ``.bench-venv/dlt``, never in the project's venv.

It loads one table with dlt's ``sql_table`` source, merged on the primary key with an incremental
cursor, the way dlt's documentation sets up an incremental SQL table, and prints one JSON line: the
seconds of ``sql_table`` (which reflects the source table) plus ``pipeline.run``, and the rows dlt
normalized. The pipeline's state (the cursor) lives in ``pipelines_dir`` and in the dataset, so the
next run with the same ``pipeline`` name reads only what is new.

Usage: python bench/peer_dlt.py '{"source": ..., "schema": ..., "target": ..., "dataset": ...,
       "pipeline": ..., "pipelines_dir": ..., "backend": ..., "format": ...}'
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    config = json.loads(sys.argv[1])
    import dlt
    from dlt.sources.sql_database import sql_table

    started = time.perf_counter()
    table = sql_table(
        credentials=config["source"],
        schema=config["schema"],
        table="orders",
        backend=config["backend"],
        reflection_level="full_with_precision",
        incremental=dlt.sources.incremental("updated_at"),
        primary_key="order_id",
    )
    pipeline = dlt.pipeline(
        pipeline_name=config["pipeline"],
        pipelines_dir=config["pipelines_dir"],
        destination=dlt.destinations.postgres(credentials=config["target"]),
        dataset_name=config["dataset"],
    )
    pipeline.run(table, write_disposition="merge", loader_file_format=config["format"])
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("orders", 0)
    print(json.dumps({"seconds": seconds, "rows": rows}))


if __name__ == "__main__":
    main()
