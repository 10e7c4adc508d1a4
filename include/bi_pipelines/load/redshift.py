"""What only Redshift needs: its column types, its CSV and where its loads stage in S3."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class S3Staging:
    """Where Redshift loads are staged: ``s3://bucket/prefix/<load id>/part-N.csv.gz``."""

    bucket: str
    prefix: str = "airflow-staging"
    aws_conn_id: str = "aws_default"
    iam_role_arn: str | None = None
    region: str | None = None
    upload: Callable[[bytes, str, str], None] | None = field(default=None, compare=False)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> S3Staging | None:
        """The staging a connection's extra describes (``s3_staging_bucket`` ...), or None."""
        if not extra.get("s3_staging_bucket"):
            return None
        return cls(
            bucket=extra["s3_staging_bucket"],
            prefix=extra.get("s3_staging_prefix", "airflow-staging"),
            aws_conn_id=extra.get("aws_conn_id", "aws_default"),
            iam_role_arn=extra.get("iam_role_arn"),
            region=extra.get("region"),
        )

    def put(self, data: bytes, key: str) -> None:
        if self.upload is not None:
            self.upload(data, self.bucket, key)
            return
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        S3Hook(aws_conn_id=self.aws_conn_id).load_bytes(data, key=key, bucket_name=self.bucket, replace=True)

    def copy_sql(self, table_sql: str, columns_sql: str, prefix: str) -> str:
        """Redshift's ``COPY`` of every gzip CSV file under ``prefix`` into ``table_sql``."""
        credentials = f"IAM_ROLE '{self.iam_role_arn}'" if self.iam_role_arn else "IAM_ROLE default"
        region = f" REGION '{self.region}'" if self.region else ""
        return (
            f"COPY {table_sql} ({columns_sql}) FROM 's3://{self.bucket}/{prefix}' {credentials}{region} "
            "FORMAT AS CSV GZIP NULL AS '\\\\N' TIMEFORMAT 'auto' DATEFORMAT 'auto' "
            "COMPUPDATE OFF STATUPDATE OFF"
        )


_REDSHIFT_TYPES = {
    "text": "VARCHAR(65535)",
    "character varying": "VARCHAR(65535)",
    "json": "VARCHAR(65535)",
    "jsonb": "VARCHAR(65535)",
    "uuid": "CHAR(36)",
    "bytea": "VARBYTE(1024000)",
    "interval": "VARCHAR(64)",
    "numeric": "NUMERIC(38,10)",
    "time with time zone": "TIMETZ",
}


def redshift_type(pg_type: str) -> str:
    """Translate a PostgreSQL column type into the nearest Redshift type."""
    base = pg_type.lower().strip()
    if base.endswith("[]"):
        return "VARCHAR(65535)"
    return _REDSHIFT_TYPES.get(base, pg_type)


def csv_line(row: Sequence[Any]) -> str:
    """A CSV line for Redshift's ``COPY ... CSV NULL AS '\\N'``: NULL unquoted, every value quoted.

    Written by hand because the csv module cannot leave NULL unquoted beside quoted values.
    """
    out = []
    for value in row:
        if value is None:
            out.append("\\N")
            continue
        if isinstance(value, bytes | bytearray | memoryview):
            text = bytes(value).hex()
        elif isinstance(value, bool):
            text = "t" if value else "f"
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
        out.append('"' + text.replace('"', '""') + '"')
    return ",".join(out) + "\n"


__all__ = ["S3Staging", "csv_line", "redshift_type"]
