#!/usr/bin/env bash
# Starts Airflow from this checkout as `airflow standalone`: api-server (UI), scheduler,
# dag-processor and triggerer, with the LocalExecutor. Used by `make run` and `make demo`.
#
# Settings (environment; `make run` maps METADATA_DB=, HOST= and PORT= onto them):
#   BI_METADATA_DB=sqlite    (default) metadata in $AIRFLOW_HOME/airflow.db: nothing to set up
#   BI_METADATA_DB=postgres  metadata in database airflow_meta_<checkout tag> on the local
#                            PostgreSQL (BI_METADATA_PG_HOST/_PORT/_USER/_PASSWORD, default
#                            127.0.0.1:5432 as postgres), created when missing
#   AIRFLOW__API__HOST       where the api-server listens: 127.0.0.1 (default) or 0.0.0.0
#   AIRFLOW__API__PORT       its port: 8080 (default)
#   BI_STOP_GRACE            seconds Airflow gets to stop after Ctrl-C before it is killed (15)
# A preset AIRFLOW__DATABASE__SQL_ALCHEMY_CONN wins over BI_METADATA_DB.
#
# One Ctrl-C (SIGINT) or SIGTERM stops everything this script started: Airflow runs in a
# process group of its own, which gets SIGTERM, then SIGKILL after the grace period.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# Tasks report to the api-server's execution API: follow the port, or they call :8080 and fail.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:${AIRFLOW__API__PORT}/execution/}"
# Airflow 3 has no SequentialExecutor: standalone runs the LocalExecutor on SQLite too. On SQLite
# (one writer at a time) its tasks mostly wait for each other; on PostgreSQL they run in parallel.
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
# Simple auth manager: one admin user; its password is generated once, below.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/passwords.json}"
# Lines reach the terminal (or the demo's log) as they are written, not a buffer at a time.
export PYTHONUNBUFFERED=1
grace="${BI_STOP_GRACE:-15}"

metadata="${BI_METADATA_DB:-sqlite}"
if [ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
  metadata="preset"
elif [ "$metadata" = "postgres" ]; then
  AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$(cd "$REPO_ROOT" && python -m devtools.seeding metadata-url)" || {
    echo "METADATA_DB=postgres: cannot reach PostgreSQL (see above); start it, or use the SQLite default" >&2
    exit 1
  }
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
elif [ "$metadata" != "sqlite" ]; then
  echo "BI_METADATA_DB (make run METADATA_DB=...) must be sqlite or postgres, not '$metadata'" >&2
  exit 2
fi
case "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite}" in
  sqlite*) where="SQLite, $AIRFLOW_HOME/airflow.db" ;;
  *) where="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN%%\?*}"; where="PostgreSQL, ${where##*@}" ;;
esac

if [ -z "$(ls -A "$CREDENTIALS_DIR" 2>/dev/null | grep -v '^README.md$')" ]; then
  echo "Note: no credentials files in $CREDENTIALS_DIR yet; DAGs will fail to connect until you add them"
  echo "      (templates in credentials_templates/, see README 'Dropping in credentials')."
fi
echo "Preparing the metadata database ($where) ..."
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  # Owner-only from its creation (whatever the umask), not chmod-ed after being written.
  python - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<'PY'
import json, os, secrets, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.fchmod(fd, 0o600)  # an empty file left over keeps its mode through O_CREAT
with os.fdopen(fd, "w") as f:
    json.dump({"admin": secrets.token_urlsafe(12)}, f)
PY
fi
password=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
case "$AIRFLOW__API__HOST" in
  0.0.0.0 | "::") url_host=localhost; exposure="listening on every network interface" ;;
  *) url_host="$AIRFLOW__API__HOST"; exposure="reachable from this machine only (make run HOST=0.0.0.0 to share it)" ;;
esac
base_url="http://${url_host}:${AIRFLOW__API__PORT}"
echo "Starting Airflow on $base_url ($exposure); the login follows once it is up. Stop with Ctrl-C."

# Job control gives the background job (airflow standalone and every process it starts: the
# components, the LocalExecutor's workers, task processes) a process group of its own, so it can be
# stopped as one; the terminal's Ctrl-C reaches this script only, which does the stopping.
set -m
airflow standalone &
airflow_pid=$!
set +m

# The login, printed as the last thing once the api-server answers and reports every component
# healthy: standalone's own start-up lines (among them "Password for the admin user has been
# previously generated in ... Not echoing it here": that is the file named below) come first.
# A process group of its own too: Ctrl-C must not reach it as a KeyboardInterrupt traceback.
set -m
python - "$base_url" "$password" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$AIRFLOW_HOME" "$where" <<'PY' &
import json, sys, time, urllib.request

base_url, password, passwords_file, home, where = sys.argv[1:]
components = ("metadatabase", "scheduler", "dag_processor", "triggerer")
while True:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as response:
            health = json.load(response)
        if all((health.get(c) or {}).get("status") == "healthy" for c in components):
            break
    except (OSError, ValueError):
        pass
    time.sleep(1)
time.sleep(4)  # standalone prints its "Airflow is ready" lines 3 s after the components are up
note = (
    "\n (Airflow warns that a non-SQLite metadata database \"looks like production\"; this\n"
    " local setup with SimpleAuthManager is not one: expected, nothing to do)"
    if where.startswith("PostgreSQL")
    else ""
)
print(f"""
============================================================================
 Airflow is up: {base_url}
 Log in as admin / {password}
 (kept in {passwords_file}: the file Airflow's "previously generated ...
 Not echoing it here" line above means)
 Metadata database: {where}{note}
 Logs: {home}/logs   Stop with Ctrl-C (once).
============================================================================""", flush=True)
PY
banner_pid=$!
set +m

stopping=0
# Whether a process of the group is still running (a zombie awaiting `wait` does not count).
group_running() {
  ps -e -o pgid=,stat= | awk -v g="$airflow_pid" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'
}
stopping=0
stop_airflow() {
  [ "$stopping" = 1 ] && return
  stopping=1
  kill "$banner_pid" 2>/dev/null || true
  echo "Stopping Airflow (process group $airflow_pid): standalone stops its components, SIGKILL after ${grace}s ..."
  # SIGINT to standalone alone: it stops each component in turn and keeps reading their output.
  # A SIGTERM to the whole group killed standalone at once; the api-server and the triggerer then
  # lost the pipe they log to and did not finish stopping until SIGKILL.
  kill -INT "$airflow_pid" 2>/dev/null || true
  local started=$SECONDS
  while kill -0 "$airflow_pid" 2>/dev/null && [ $((SECONDS - started)) -lt "$grace" ]; do
    sleep 0.2
  done
  # What standalone leaves behind (LocalExecutor workers wait for their scheduler) gets SIGTERM.
  kill -TERM -- "-$airflow_pid" 2>/dev/null || true
  while group_running && [ $((SECONDS - started)) -lt "$grace" ]; do
    sleep 0.2
  done
  if group_running; then
    echo "Airflow still running after ${grace}s: SIGKILL to what is left:"
    ps -e -o pgid=,pid=,args= | awk -v g="$airflow_pid" '$1 == g {$1 = ""; print "  " substr($0, 1, 100)}'
    kill -KILL -- "-$airflow_pid" 2>/dev/null || true
  fi
  wait "$airflow_pid" 2>/dev/null || true
  echo "Airflow stopped after $((SECONDS - started))s."
}
trap 'stop_airflow; exit 130' INT
trap 'stop_airflow; exit 143' TERM
status=0
wait "$airflow_pid" || status=$?
kill "$banner_pid" 2>/dev/null || true
exit "$status"
