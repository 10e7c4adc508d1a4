#!/usr/bin/env bash
# First start: install the system tables, start the server on its socket only, give root (local
# and remote) MARIADB_ROOT_PASSWORD, stop it. Every start: mariadbd on 3306.
set -euo pipefail
if [[ $# -gt 0 && "$1" != mariadbd ]]; then
    exec "$@"
fi
chown -R mysql:mysql /var/lib/mysql /run/mysqld
if [[ ! -d /var/lib/mysql/mysql ]]; then
    password=${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required}
    password=${password//\'/\'\'}
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking &
    server=$!
    for _ in $(seq 60); do
        mariadb -uroot -e "SELECT 1" >/dev/null 2>&1 && break
        sleep 1
    done
    # root@localhost keeps unix_socket (the healthcheck) and gets the password for TCP.
    mariadb -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${password}');
CREATE USER 'root'@'%' IDENTIFIED BY '${password}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    kill "$server" && wait "$server" || true
    echo "initialised /var/lib/mysql"
fi
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306
