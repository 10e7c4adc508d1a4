# Info Portal PostgreSQL -> Airflow connection `info_portal_postgres`.
# Required keys are the runbook's; optional ones are commented out with their defaults.
username = 'bi_reader'  # database user
password = 'change-me'  # database password
host = '192.0.2.10'  # server name or address
dbname = 'poc_db'  # database name
port = '5499'  # optional: port as text or number, default 5432
# sslmode = 'require'  # optional: libpq sslmode (disable, require, verify-full, ...)
