"""What only Redshift needs: its column types, its CSV and where its loads stage in S3."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bi_pipelines.core.errors import ConfigError

# The staging settings end up inside SQL string literals of the COPY statement, so each must be
# what it says it is (checked when the staging is built) -- and is escaped all the same.
# Bucket: S3's naming rules (3-63 lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Prefix: S3's "safe" key characters, plus '=' and '+' (partition-style keys).
_PREFIX = re.compile(r"[A-Za-z0-9/!_.*()=+-]{0,900}")
# One role ARN, or a comma-separated chain of them (Redshift's role chaining).
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{1,12}:role/[A-Za-z0-9+=.@_/-]{1,512}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_WHAT = {
    "s3_staging_bucket": "an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')",
    "s3_staging_prefix": "an S3 key prefix of letters, digits and / ! _ . * ( ) = + -",
    "iam_role_arn": "an IAM role ARN like arn:aws:iam::123456789012:role/RedshiftCopy (comma-separated to chain)",
    "region": "an AWS region like ca-central-1",
}


def _check(extra_key: str, value: str | None, pattern: re.Pattern[str]) -> None:
    if value is None:
        return
    ok = isinstance(value, str) and all(
        pattern.fullmatch(part) for part in (value.split(",") if extra_key == "iam_role_arn" else [value])
    )
    if not ok or (extra_key == "s3_staging_bucket" and ".." in value):
        raise ConfigError(
            f"Redshift connection extra {extra_key!r} must be {_WHAT[extra_key]}, not {value!r}"
        )


def sql_literal(value: str) -> str:
    """``value`` as a Redshift string literal: quotes doubled, backslashes (an escape there) too."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True)
class S3Staging:
    """Where Redshift loads are staged: ``s3://bucket/prefix/<load id>/part-N.csv.gz``."""

    bucket: str
    prefix: str = "airflow-staging"
    aws_conn_id: str = "aws_default"
    iam_role_arn: str | None = None
    region: str | None = None
    upload: Callable[[bytes, str, str], None] | None = field(default=None, compare=False)

    def __post_init__(self):
        """Check every setting that reaches the COPY statement.

        Raises:
            ConfigError: naming the connection extra that is not a valid bucket, prefix, role
                ARN or region.
        """
        _check("s3_staging_bucket", self.bucket, _BUCKET)
        _check("s3_staging_prefix", self.prefix, _PREFIX)
        _check("iam_role_arn", self.iam_role_arn, _ROLE_ARN)
        _check("region", self.region, _REGION)

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
        """Upload ``data`` to ``key`` in the staging bucket (with ``upload`` if given, else S3Hook)."""
        if self.upload is not None:
            self.upload(data, self.bucket, key)
            return
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        S3Hook(aws_conn_id=self.aws_conn_id).load_bytes(data, key=key, bucket_name=self.bucket, replace=True)

    def copy_sql(self, table_sql: str, columns_sql: str, prefix: str) -> str:
        """Redshift's ``COPY`` of every gzip CSV file under ``prefix`` into ``table_sql``."""
        credentials = (
            f"IAM_ROLE {sql_literal(self.iam_role_arn)}" if self.iam_role_arn else "IAM_ROLE default"
        )
        region = f" REGION {sql_literal(self.region)}" if self.region else ""
        source = sql_literal(f"s3://{self.bucket}/{prefix}")
        return (
            f"COPY {table_sql} ({columns_sql}) FROM {source} {credentials}{region} "
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
    r"""A CSV line for Redshift's ``COPY ... CSV NULL AS '\N'``: NULL unquoted, every value quoted.

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


__all__ = ["S3Staging", "csv_line", "redshift_type", "sql_literal"]
