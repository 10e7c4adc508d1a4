#!/usr/bin/env bash
# The two checks of the official image's healthcheck.sh that docker-compose.yaml uses.
set -euo pipefail
# root over the local socket (unix_socket authentication), as the container's root user.
sql() { mariadb -uroot -N -e "$1"; }
for arg in "$@"; do
    case "$arg" in
        --connect) sql "SELECT 1" >/dev/null ;;
        --innodb_initialized) [[ "$(sql "SELECT support FROM information_schema.ENGINES WHERE engine='InnoDB'")" =~ YES|DEFAULT ]] ;;
        *) echo "unsupported check $arg" >&2; exit 2 ;;
    esac
done
