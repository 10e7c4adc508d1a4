# Environment for running Airflow from this checkout. Sourced by `make run`, `make demo`
# and the end-to-end tests; safe to source by hand: `source scripts/airflow_env.sh`.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO_ROOT/.airflow}"
export PATH="$REPO_ROOT/.venv/bin:$PATH"
export PYTHONPATH="$REPO_ROOT/include:$REPO_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DEFAULT_TIMEZONE=utc
# LocalExecutor forks `parallelism` workers up front; a handful fits a 2-core machine.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-4}"
export AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT=False
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# Credentials files in credentials/ become Airflow connections (see README).
export AIRFLOW__SECRETS__BACKEND=credentials_secrets_backend.CredentialsFileSecretsBackend
export CREDENTIALS_DIR="${CREDENTIALS_DIR:-$REPO_ROOT/credentials}"
export AIRFLOW__SECRETS__BACKEND_KWARGS="{\"credentials_dir\": \"$CREDENTIALS_DIR\"}"
