#!/usr/bin/env bash
# /entrypoint of the stand-in Airflow image: the contract of the official image's entrypoint as
# its documentation describes it (docs/docker-stack/entrypoint), written anew and kept to what
# docker-compose.yaml uses:
#   * an arbitrary uid must have group 0; it gets a passwd entry, and HOME=/home/airflow (where
#     the packages are, in the user site) for every uid, root included;
#   * the metadata database is waited for (CONNECTION_CHECK_MAX_COUNT tries,
#     CONNECTION_CHECK_SLEEP_TIME seconds apart; 0 tries skips the wait);
#   * _AIRFLOW_DB_MIGRATE=true runs `airflow db migrate`;
#   * _AIRFLOW_WWW_USER_CREATE=true creates the admin (_AIRFLOW_WWW_USER_USERNAME/_PASSWORD,
#     ..._FIRSTNAME/_LASTNAME/_EMAIL/_ROLE), and says so when it already exists;
#   * `bash ...` and `python ...` run as given, `airflow x` and plain `x` both run `airflow x`.
set -euo pipefail

# Any uid may run the image, but only with group 0 (root too): the files are group-0 owned.
if [[ "$(id -u)" != 0 && "$(id -g)" != 0 ]]; then
    echo "The container must run with group 0 (--user $(id -u):0), not $(id -g)." >&2
    exit 1
fi
if ! whoami >/dev/null 2>&1; then
    echo "default:x:$(id -u):0:default user:/home/airflow:/sbin/nologin" >>/etc/passwd
fi
# Python finds the packages in the user site of /home/airflow, whoever runs (root included).
export HOME=/home/airflow

wait_for_database() {
    local tries=${CONNECTION_CHECK_MAX_COUNT:-20} sleep=${CONNECTION_CHECK_SLEEP_TIME:-3} i
    ((tries > 0)) || return 0
    for ((i = 1; i <= tries; i++)); do
        if airflow db check >/dev/null 2>&1; then
            return 0
        fi
        echo "Waiting for the metadata database (${i}/${tries})..." >&2
        sleep "${sleep}"
    done
    echo "The metadata database did not answer after ${tries} tries." >&2
    airflow db check
}

if [[ "${1:-}" == "airflow" ]]; then
    shift
fi
command=${1:-}

if [[ "${command}" != "bash" && "${command}" != "python" && -n "${command}" ]] \
    || [[ "${_AIRFLOW_DB_MIGRATE:-}" == "true" || "${_AIRFLOW_WWW_USER_CREATE:-}" == "true" ]]; then
    wait_for_database
fi
if [[ "${_AIRFLOW_DB_MIGRATE:-}" == "true" ]]; then
    airflow db migrate
fi
if [[ "${_AIRFLOW_WWW_USER_CREATE:-}" == "true" ]]; then
    airflow users create \
        --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
        --password "${_AIRFLOW_WWW_USER_PASSWORD:?_AIRFLOW_WWW_USER_PASSWORD is required to create the user}" \
        --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
        --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
        --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
        --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" \
        || echo "The user ${_AIRFLOW_WWW_USER_USERNAME:-admin} was not created (it may exist already)."
fi

case "${command}" in
    "") exec airflow --help ;;
    bash | python) shift; exec "${command}" "$@" ;;
    *) exec airflow "$@" ;;
esac
