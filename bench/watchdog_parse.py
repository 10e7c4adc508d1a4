"""The baseline's unit of work, as Watchdog's ``parse.py``: one process, one connection, one table.

Watchdog launched this script once per monitored table (in parallel) and each instance opened
its own connection, ran ``SELECT MAX(column)`` and exited. Only the query part is kept here (the
original also connected to its output database to write the row), which favours the baseline.

Usage: ``python bench/watchdog_parse.py '<json: dialect, host, port, user, database, table, column>'``
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    if job["dialect"] == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(host=job["host"], port=job["port"], user=job["user"], database=job["database"])
        query = f"SELECT MAX(`{job['column']}`) AS last_update FROM `{job['table']}`"
    else:
        import psycopg2

        conn = psycopg2.connect(host=job["host"], port=job["port"], user=job["user"], dbname=job["database"])
        query = f'SELECT MAX("{job["column"]}") AS last_update FROM "{job["table"]}"'
    try:
        cur = conn.cursor()
        cur.execute(query)
        (value,) = cur.fetchone()
    finally:
        conn.close()
    print(json.dumps({"table": job["table"], "last_update": value.isoformat() if value else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
