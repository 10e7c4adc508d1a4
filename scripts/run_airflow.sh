#!/usr/bin/env bash
# Starts Airflow from this checkout: api-server (UI) on :8080, scheduler, dag-processor and
# triggerer, as `airflow standalone` on SQLite in .airflow/. Used by `make run` and `make demo`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# Tasks report to the api-server's execution API: follow the port, or they call :8080 and fail.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:${AIRFLOW__API__PORT}/execution/}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
# Simple auth manager: one admin user; standalone generates its password once.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/passwords.json}"

if [ -z "$(ls -A "$CREDENTIALS_DIR" 2>/dev/null | grep -v '^README.md$')" ]; then
  echo "Note: no credentials files in $CREDENTIALS_DIR yet; DAGs will fail to connect until you add them"
  echo "      (templates in credentials_templates/, see README 'Dropping in credentials')."
fi
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  python - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<'PY'
import json, secrets, sys
with open(sys.argv[1], "w") as f:
    json.dump({"admin": secrets.token_urlsafe(12)}, f)
PY
  chmod 600 "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
fi
password=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
cat <<MSG
============================================================================
 Airflow is starting: http://localhost:${AIRFLOW__API__PORT}
 Log in as admin / ${password}
 (the password is kept in ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE})
 Logs: ${AIRFLOW_HOME}/logs   Stop with Ctrl-C.
============================================================================
MSG
exec airflow standalone
