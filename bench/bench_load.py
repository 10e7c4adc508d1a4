"""Benchmark: the load path's publish strategies on the shapes that once went quadratic.

``IMAP 50k-row reprocess``: an IMAP report attachment of 50,000 rows is one partition
(``_attachment_sha256``); reprocessing the message replaces the partition by itself. The case
is timed against the first load of the same rows, measured in this same run: a linear publish
costs about the same (delete 50k + insert 50k against insert 50k), a quadratic one pairs every
staged row with every target row of the partition (2.5 billion pairs).

Every case runs in its own process so its peak RSS is its own. One line per case: seconds,
rows/s, peak RSS, and the ratio against the first load. Not a test: ``make bench``.

Usage: python bench/bench_load.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "include")]

from tests.support.databases import postgres_database  # noqa: E402

LIMIT_RATIO = 2.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_imap(args) -> dict:
    """Load ``args.rows`` rows of one attachment with the IMAP pipeline's target and strategy."""
    import psycopg2

    from bi_pipelines.db.rows import RowStream, iter_batches
    from bi_pipelines.load.publish import ReplacePartitions
    from bi_pipelines.load.tables import Column, TargetTable
    from bi_pipelines.load.warehouse import Warehouse
    from bi_pipelines.sources.imap.pipeline import META_COLUMNS, PARTITION_COLUMN

    target = TargetTable(
        "raw_imap",
        "daily_report",
        (
            Column("franchise", "text"),
            Column("amount", "numeric(12,2)"),
            Column("day", "date"),
            *META_COLUMNS,
        ),
    )
    sha = "a" * 64
    received = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    def batches():
        rows = (
            (
                f"franchise {i % 300}",
                i % 100000 / 100,
                dt.date(2026, 2, 1 + i % 28),
                sha,
                i,
                "<m@x>",
                received,
                "r.csv",
            )
            for i in range(args.rows)
        )
        # The pipeline's order: report columns, then the META_COLUMNS.
        return iter_batches(rows, size=5_000)

    wh = Warehouse(psycopg2.connect(host=args.host, port=args.port, user=args.user, dbname=args.db))
    wh.ensure_table(target)
    columns = target.column_names
    started = time.perf_counter()
    result = wh.load(target, RowStream(columns, batches=batches), ReplacePartitions((PARTITION_COLUMN,)))
    seconds = time.perf_counter() - started
    wh.close()
    return {
        "seconds": seconds,
        "rows": result.rows_inserted,
        "deleted": result.rows_deleted,
        "rss_mb": peak_rss_mb(),
    }


def run_child(db, rows: int) -> dict:
    argv = [
        sys.executable,
        __file__,
        "--child=imap",
        f"--rows={rows}",
        f"--host={db.host}",
        f"--port={db.port}",
        f"--user={db.user}",
        f"--db={db.name}",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), str(REPO)])
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"imap case failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def line(name: str, result: dict, ratio: str = "") -> None:
    rows, seconds = result["rows"], result["seconds"]
    print(
        f"{name:<44} {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s  peak RSS {result['rss_mb']:7.0f} MB  {ratio}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--child")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(case_imap(args)))
        return
    print(f"load benchmark: one IMAP attachment of {args.rows:,} rows; each case in its own process")
    with postgres_database("bench_load") as db:
        first = run_child(db, args.rows)
        line(f"IMAP {args.rows // 1000}k-row first load", first)
        again = run_child(db, args.rows)
        assert again["deleted"] == args.rows, again
        ratio = again["seconds"] / first["seconds"]
        line(f"IMAP {args.rows // 1000}k-row reprocess", again, f"{ratio:.2f}x first load")
    verdict = "OK" if ratio <= LIMIT_RATIO else "TOO SLOW"
    print(f"\nTargets:\n  IMAP reprocess within {LIMIT_RATIO:g}x the first load: {verdict} ({ratio:.2f}x)")
    if ratio > LIMIT_RATIO:
        sys.exit(1)


if __name__ == "__main__":
    main()
