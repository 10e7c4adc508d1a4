# Data warehouse (Amazon Redshift) -> Airflow connection `redshift_dw`.
username = "bi_loader"  # database user
password = "change-me"  # database password
cluster = "example-bi.abc123xyz.ca-central-1"  # cluster endpoint without .redshift.amazonaws.com
db_name = "example_dw"  # database name
# port = 5439  # optional: default 5439
# host = "example-bi.abc123xyz.ca-central-1.redshift.amazonaws.com"  # optional: full host, overrides cluster
# engine = "redshift"  # optional: 'redshift' (default) or 'postgres' for a PostgreSQL stand-in (local demo)
# s3_staging_bucket = "example-bi-staging"  # optional: stage loads in S3 and COPY them (recommended)
# s3_staging_prefix = "airflow-staging"  # optional: key prefix for staged files
# iam_role_arn = "arn:aws:iam::123456789012:role/example-redshift-copy"  # optional: role COPY uses to read S3
# aws_conn_id = "aws_default"  # optional: Airflow AWS connection used to upload staged files
# sslmode = "require"  # optional
