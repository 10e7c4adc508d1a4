#!/usr/bin/env bash
# First start: install the system tables and give root (local and remote) MARIADB_ROOT_PASSWORD.
set -euo pipefail
if [[ $# -gt 0 && "$1" != mariadbd ]]; then
    exec "$@"
fi
chown -R mysql:mysql /var/lib/mysql /run/mysqld
if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    password=${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required}
    password=${password//\'/\'\'}
    mariadbd --user=mysql --datadir=/var/lib/mysql --bootstrap --skip-networking <<SQL
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${password}');
CREATE USER 'root'@'%' IDENTIFIED BY '${password}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
    echo "initialised /var/lib/mysql"
fi
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306
