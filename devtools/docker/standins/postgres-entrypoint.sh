#!/usr/bin/env bash
# First start: initdb with POSTGRES_USER/POSTGRES_PASSWORD (password auth over TCP, trust on
# the local socket, as the official image), then POSTGRES_DB. Every start: postgres as `postgres`.
set -euo pipefail
if [[ $# -gt 0 && "$1" != postgres ]]; then
    exec "$@"
fi
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
chown postgres:postgres "$PGDATA" /var/run/postgresql
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    pwfile=$(mktemp) && printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pwfile"
    chown postgres "$pwfile"
    su postgres -c "initdb -D '$PGDATA' -U '$user' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [[ "$db" != "postgres" ]]; then
        su postgres -c "postgres --single -D '$PGDATA' -c listen_addresses='' postgres" <<<"CREATE DATABASE \"$db\" OWNER \"$user\";" >/dev/null
    fi
    echo "initialised $PGDATA (user $user, database $db)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*'
