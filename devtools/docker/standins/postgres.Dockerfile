# Stand-in for postgres:16: Debian bookworm's PostgreSQL (15), honouring POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB and a data volume at /var/lib/postgresql/data.
ARG DEBIAN_IMAGE=bi-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
