"""The S3 COPY statement: staging settings are validated, and escaped as SQL literals anyway."""

from __future__ import annotations

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.load.redshift import S3Staging, sql_literal

GOOD = {
    "s3_staging_bucket": "bi-staging.ca",
    "s3_staging_prefix": "airflow/loads=1",
    "iam_role_arn": "arn:aws:iam::123456789012:role/service/RedshiftCopy",
    "region": "ca-central-1",
}


def test_a_valid_staging_gives_the_expected_copy():
    sql = S3Staging.from_extra(GOOD).copy_sql('"raw"."t"', '"a"', "airflow/loads=1/x/")
    assert "FROM 's3://bi-staging.ca/airflow/loads=1/x/'" in sql
    assert "IAM_ROLE 'arn:aws:iam::123456789012:role/service/RedshiftCopy' REGION 'ca-central-1'" in sql
    chained = "arn:aws:iam::123456789012:role/a,arn:aws:iam::210987654321:role/b"
    assert S3Staging.from_extra({**GOOD, "iam_role_arn": chained}).iam_role_arn == chained


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("iam_role_arn", "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=k"),
        ("iam_role_arn", "not-an-arn"),
        ("s3_staging_bucket", "bucket' IAM_ROLE default --"),
        ("s3_staging_bucket", "Upper_Case"),
        ("s3_staging_bucket", "a..b"),
        ("s3_staging_prefix", "loads'; DROP TABLE x; --"),
        ("s3_staging_prefix", "back\\slash"),
        ("region", "ca-central-1' x"),
    ],
)
def test_a_setting_that_would_break_the_literal_is_a_config_error_naming_the_extra(key, value):
    with pytest.raises(ConfigError, match=rf"Redshift connection extra '{key}' must be"):
        S3Staging.from_extra({**GOOD, key: value})


def test_literals_escape_quotes_and_backslashes():
    assert sql_literal("a'b\\c") == "'a''b\\\\c'"
