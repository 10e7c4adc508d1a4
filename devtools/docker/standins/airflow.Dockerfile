# Stand-in for the official apache/airflow:3.3.2-python3.11 image, for `make test-docker` on a
# machine that cannot pull it. Built FROM a Debian bookworm rootfs (debootstrap, `docker import`)
# with Debian's Python 3.11 and wheels from a local wheelhouse served on 127.0.0.1 (build with
# --network host). Laid out as the official image is: user `airflow` (50000, group 0),
# AIRFLOW_HOME=/opt/airflow, packages in the user site under /home/airflow/.local, curl and
# dumb-init, /entrypoint. See devtools/docker/README.md for what it does not reproduce.
ARG DEBIAN_IMAGE=bi-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}

ARG AIRFLOW_VERSION=3.3.2
ARG WHEELHOUSE_URL=http://127.0.0.1:8799/
ENV AIRFLOW_VERSION=${AIRFLOW_VERSION} \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    PIP_USER=true \
    PATH=/home/airflow/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

COPY requirements.txt /tmp/standin-requirements.txt

# One RUN: Debian's packages, the airflow user, then every Python package as that user from the
# wheelhouse only (--no-index: the build fails rather than fetch something else).
# hadolint ignore=DL3008,DL3013,DL4006
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python-is-python3 \
       ca-certificates curl dumb-init libpq5 libmariadb3 procps netcat-openbsd \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
    && useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins \
    && chown -R 50000:0 /opt/airflow /home/airflow && chmod -R g+rwX /opt/airflow /home/airflow \
    && chmod g+w /etc/passwd \
    && su airflow -s /bin/bash -c "PIP_USER=true python -m pip install --no-cache-dir --no-index \
         --find-links ${WHEELHOUSE_URL} 'apache-airflow==${AIRFLOW_VERSION}' \
         -r /tmp/standin-requirements.txt apache-airflow-providers-fab apache-airflow-providers-celery 'celery<5.7' \
       && python -c 'import airflow, airflow.providers.fab, airflow.providers.celery.executors.celery_executor, MySQLdb'" \
    && rm /tmp/standin-requirements.txt

# After the big RUN, so changing the entrypoint does not reinstall everything (the file is
# executable in git: the legacy builder has no COPY --chmod).
COPY entrypoint.sh /entrypoint
USER 50000
WORKDIR /opt/airflow
EXPOSE 8080
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
