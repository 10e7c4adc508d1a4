"""PostgreSQL (Info Portal) and Redshift (marts) as sources; Redshift S3 staging against a local S3."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from bi_pipelines.db.rows import RowStream
from bi_pipelines.load.publish import Merge
from bi_pipelines.load.redshift import S3Staging
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.relational.pipeline import extract_table
from devtools.processes import free_port
from tests.integration.sources.relational.conftest import dump, hour_window, write_flow

pytestmark = pytest.mark.integration
UTC = dt.UTC

PORTAL_DDL = """
CREATE SCHEMA portal;
CREATE TYPE portal.contact_role AS ENUM ('owner', 'manager', 'dispatcher');
CREATE TABLE portal.franchise_contacts (
  contact_id integer PRIMARY KEY,
  franchise_id integer NOT NULL,
  full_name text,
  role portal.contact_role,
  phones text[],
  preferences jsonb,
  budget numeric(18,4),
  active boolean,
  modified_at timestamp NOT NULL,
  verified_at timestamptz
);
INSERT INTO portal.franchise_contacts VALUES
  (1, 10, 'Zoë O''Brien', 'owner', '{"604-555-0101","604-555-0102"}', '{"lang": "fr"}', 1234.5678, true,
   '2026-11-20 09:00:00', '2026-11-20 17:00:00+00'),
  (2, 10, E'tab\\there', NULL, NULL, NULL, NULL, NULL, '2026-11-20 09:30:00', NULL),
  -- 01:30 happens twice in Vancouver on 2026-11-01: read as standard time (09:30 UTC).
  (3, 11, 'dst', 'manager', '{}', '[]', -0.0001, false, '2026-11-01 01:30:00', NULL);
"""

CONTACTS = """
franchise_contacts:
  source_schema: portal
  primary_key: [contact_id]
  cursor_column: modified_at
  lookback: 1h
"""


@pytest.fixture
def portal(pg_db2, airflow_conn):
    airflow_conn("test_portal", pg_db2)
    pg_db2.execute(PORTAL_DDL)
    return pg_db2


def test_postgres_source_streams_copy_with_local_times_converted(portal, warehouse_db, tmp_path):
    flow = write_flow(tmp_path, "portal", {"conn_id": "test_portal", "dialect": "postgres"}, CONTACTS)
    # [17:00, 18:00) UTC with 1 h lookback = 08:00..10:00 Vancouver: contacts 1 and 2.
    summary = extract_table(flow, flow.table("franchise_contacts"), hour_window(20, 17))
    assert summary.rows_staged == 2
    rows = dump(warehouse_db, "raw_test.franchise_contacts", "contact_id")
    assert rows[0] == (
        1,
        10,
        "Zoë O'Brien",
        "owner",
        ["604-555-0101", "604-555-0102"],
        {"lang": "fr"},
        Decimal("1234.5678"),
        True,
        dt.datetime(2026, 11, 20, 17, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 20, 17, 0, tzinfo=UTC),
    )
    assert rows[1][2] == "tab\there"
    assert rows[1][3:8] == (None,) * 5
    # The whole history, once: the ambiguous DST time lands as standard time.
    extract_table(flow, flow.table("franchise_contacts"), hour_window(1, 0, hours=24 * 20))
    assert warehouse_db.query("SELECT modified_at FROM raw_test.franchise_contacts WHERE contact_id = 3") == [
        (dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC),)
    ]
    types = dict(
        warehouse_db.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw_test'"
        )
    )
    assert types["role"] == "text"
    assert types["phones"] == "ARRAY"
    assert types["modified_at"].startswith("timestamp with")


def test_redshift_source_uses_declared_cursor_and_same_results(
    portal, warehouse_db, tmp_path, pg_db2, airflow_conn
):
    """The Redshift path (DECLARE/FETCH, information_schema types) gives the PostgreSQL path's rows."""
    pg_flow = write_flow(tmp_path, "portal", {"conn_id": "test_portal", "dialect": "postgres"}, CONTACTS)
    window = hour_window(1, 0, hours=24 * 20)
    extract_table(pg_flow, pg_flow.table("franchise_contacts"), window)
    expected = dump(warehouse_db, "raw_test.franchise_contacts", "contact_id")
    rs_flow = write_flow(
        tmp_path, "marts", {"conn_id": "test_portal", "dialect": "redshift"}, CONTACTS, target_schema="raw_rs"
    )
    summary = extract_table(rs_flow, rs_flow.table("franchise_contacts"), window)
    assert summary.rows_staged == 3
    got = dump(warehouse_db, "raw_rs.franchise_contacts", "contact_id")
    # Arrays and enums arrive as text through information_schema's generic types.
    assert [r[:3] + r[5:] for r in got] == [r[:3] + r[5:] for r in expected]
    assert got[0][4] == "{604-555-0101,604-555-0102}"


def test_mart_full_refresh_into_portal(pg_db2, warehouse_db, airflow_conn, tmp_path):
    airflow_conn("test_marts", pg_db2)
    pg_db2.execute(
        "CREATE SCHEMA mart",
        "CREATE TABLE mart.franchise_scorecard (franchise_id int PRIMARY KEY, score numeric(5,2), "
        "refreshed_at timestamptz)",
        "INSERT INTO mart.franchise_scorecard SELECT g, g * 1.5, '2026-11-20 03:00+00' FROM generate_series(1, 50) g",
    )
    flow = write_flow(
        tmp_path,
        "marts",
        {"conn_id": "test_marts", "dialect": "redshift"},
        "franchise_scorecard:\n  source_schema: mart\n  mode: full_refresh\n  primary_key: [franchise_id]\n",
        target_schema="portal",
    )
    extract_table(flow, flow.table("franchise_scorecard"), hour_window(20, 11))
    pg_db2.execute("DELETE FROM mart.franchise_scorecard WHERE franchise_id > 10")
    summary = extract_table(flow, flow.table("franchise_scorecard"), hour_window(21, 11))
    assert (summary.rows_replaced, summary.rows_inserted) == (50, 10)
    assert warehouse_db.query("SELECT count(*), sum(score) FROM portal.franchise_scorecard") == [
        (10, Decimal("82.50"))
    ]


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 (moto's server) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="ca-central-1",
    )
    for _ in range(100):
        try:
            client.list_buckets()
            break
        except Exception:
            time.sleep(0.1)
    client.create_bucket(
        Bucket="bi-staging", CreateBucketConfiguration={"LocationConstraint": "ca-central-1"}
    )
    yield port, client
    proc.terminate()
    proc.wait(timeout=10)


def test_redshift_s3_staging_writes_gzip_csv_and_issues_copy(s3_server, pg_db, monkeypatch):
    """Files land in S3 and PostgreSQL's CSV COPY (same NULL and quoting rules) loads them faithfully.

    What this cannot prove: that Redshift itself accepts the COPY statement and the IAM role, and
    Redshift's exact CSV parsing; the statement is checked as text instead.
    """
    port, client = s3_server
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEST_AWS",
        f'{{"conn_type": "aws", "login": "test", "password": "test", "extra": '
        f'{{"endpoint_url": "http://127.0.0.1:{port}", "region_name": "ca-central-1"}}}}',
    )
    staging = S3Staging(
        bucket="bi-staging", prefix="loads", aws_conn_id="test_aws", iam_role_arn="arn:aws:iam::1:role/x"
    )
    target = TargetTable(
        "raw_s3",
        "events",
        (Column("id", "integer"), Column("note", "text"), Column("at", "timestamptz")),
        ("id",),
    )
    pg_db.execute(
        "CREATE SCHEMA raw_s3",
        "CREATE TABLE raw_s3.events (id integer primary key, note text, at timestamptz)",
    )
    rows = [
        (1, 'quote " and, comma', dt.datetime(2026, 11, 20, 1, tzinfo=UTC)),
        (2, None, None),
        (3, "multi\nline \\N", dt.datetime(2026, 11, 20, 2, tzinfo=UTC)),
    ]
    statements = []

    class RecordingCursor:
        """PostgreSQL cannot run Redshift's COPY FROM S3: record it, and emulate it by loading the
        staged files with PostgreSQL's CSV COPY."""

        def __init__(self, cur):
            self.cur = cur

        def execute(self, sql, params=None):
            if sql.startswith("COPY ") and "FROM 's3://" in sql:
                statements.append(sql)
                staging_table = sql.split()[1]
                for obj in client.list_objects_v2(Bucket="bi-staging", Prefix="loads/")["Contents"]:
                    data = gzip.decompress(
                        client.get_object(Bucket="bi-staging", Key=obj["Key"])["Body"].read()
                    )
                    self.cur.copy_expert(
                        f"COPY {staging_table} (id, note, at) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                        io.BytesIO(data),
                    )
                return None
            return self.cur.execute(sql, params)

        def __getattr__(self, name):
            return getattr(self.cur, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.cur.__exit__(*exc)

    class RecordingConnection:
        def __init__(self, conn):
            self.conn = conn

        def cursor(self, *args, **kwargs):
            return RecordingCursor(self.conn.cursor(*args, **kwargs))

        def __getattr__(self, name):
            return getattr(self.conn, name)

    wh = Warehouse(RecordingConnection(pg_db.connect()), "redshift", s3_staging=staging)
    result = wh.load(
        target, RowStream(target.column_names, batches=lambda: iter([rows[:2], rows[2:]])), Merge(("id",))
    )
    assert result.rows_staged == 3
    assert result.rows_inserted == 3
    assert len(client.list_objects_v2(Bucket="bi-staging", Prefix="loads/")["Contents"]) == 2
    assert len(statements) == 1
    assert "IAM_ROLE 'arn:aws:iam::1:role/x'" in statements[0]
    assert "FORMAT AS CSV GZIP NULL AS '\\\\N'" in statements[0]
    assert pg_db.query("SELECT * FROM raw_s3.events ORDER BY id") == rows
