# The BI team's Airflow image: the official Airflow 3.3.2 image, the pinned requirements.txt and
# this repository's dags/, plugins/ and include/. Built and pushed to GHCR by
# .github/workflows/image.yml when a `vX.Y.Z` tag is pushed; run it with docker-compose.yaml.
#
# Extended the way Airflow's docs describe (docs/docker-stack/build.html): system packages as
# root, Python packages as the `airflow` user, `apache-airflow` pinned on the same pip command so
# a requirement can never move Airflow itself.
FROM apache/airflow:3.3.2-python3.11

ARG BUILD_VERSION=dev
LABEL org.opencontainers.image.title="bi-airflow" \
      org.opencontainers.image.description="Airflow 3 DAGs that extract the franchise systems into the BI warehouse, plus a source freshness monitor" \
      org.opencontainers.image.source="https://github.com/bi-team/bi-airflow" \
      org.opencontainers.image.vendor="BI team" \
      org.opencontainers.image.version="${BUILD_VERSION}" \
      org.opencontainers.image.base.name="docker.io/apache/airflow:3.3.2-python3.11"

# Numeric ids (DL3066): 0 is root, 50000 is the base image's `airflow` user.
USER 0
# mysqlclient has no Linux wheels: pip compiles it against libmariadb when the base image's copy
# differs from the pinned version. Debian package versions are not pinned (DL3008): the base
# image fixes the Debian release, and pinned versions vanish from the archive at the next
# security update, which would break every rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER 50000
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt

# Same environment as a local run (scripts/airflow_env.sh), with the image's paths.
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DEFAULT_TIMEZONE=utc \
    AIRFLOW__CORE__PARALLELISM=4 \
    AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=4 \
    AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT=False \
    AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
# These names say SECRETS and CREDENTIALS but hold a class path and a folder, never a secret
# (DL3064 matches on the name).
# hadolint ignore=DL3064
ENV AIRFLOW__SECRETS__BACKEND=credentials_secrets_backend.CredentialsFileSecretsBackend \
    CREDENTIALS_DIR=/opt/airflow/credentials \
    AIRFLOW__SECRETS__BACKEND_KWARGS='{"credentials_dir": "/opt/airflow/credentials"}'

# Credentials are never baked in (.dockerignore keeps credentials/ out of the build context):
# docker-compose.yaml mounts them read-only here. The empty folder lets the secrets backend
# start cleanly when nothing is mounted.
COPY --chown=50000:0 dags/ /opt/airflow/dags/
COPY --chown=50000:0 plugins/ /opt/airflow/plugins/
COPY --chown=50000:0 include/ /opt/airflow/include/
# Fail the build, not the first DAG run, when a pinned requirement broke an import. FAB (the
# compose file's auth manager) and Celery come from the base image, not requirements.txt.
# `airflow` first: importing it loads the secrets backend named in ENV above; importing the
# backend's module first would start that from inside the module's own import, and fail.
RUN mkdir -p /opt/airflow/credentials \
    && python -c "import airflow, MySQLdb, psycopg2, bi_pipelines.credentials, credentials_secrets_backend" \
    && python -c "import airflow.providers.fab, airflow.providers.celery"
