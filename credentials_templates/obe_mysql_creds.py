# OBE booking system (MySQL) -> Airflow connection `obe_mysql`.
instance_ip = '192.0.2.20'  # server address
database_name = 'obe_v8'  # database (schema) name
user = 'bi_reader'  # database user
password = 'change-me'  # database password
portal = '3306'  # the port (the runbook calls it `portal`), default 3306
# charset = 'utf8mb4'  # optional: connection character set, default utf8mb4
