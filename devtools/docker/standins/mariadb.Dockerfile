# Stand-in for mariadb:11.4: Debian bookworm's MariaDB (10.11), honouring MARIADB_ROOT_PASSWORD,
# with the official image's `healthcheck.sh --connect --innodb_initialized`. The package's own
# system tables are removed, so the first start initialises the volume with the password.
ARG DEBIAN_IMAGE=bi-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY mariadb-healthcheck.sh /usr/local/bin/healthcheck.sh
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends mariadb-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && rm -rf /var/lib/mysql/* \
    && mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld \
    && chmod 0755 /usr/local/bin/docker-entrypoint.sh /usr/local/bin/healthcheck.sh
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
