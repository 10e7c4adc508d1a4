"""Everything the demo (``make demo``, the compose ``demo`` profile) and the end-to-end tests put in
place before Airflow starts: sample databases, sample report e-mails, Vonigo fixtures and the five
credentials files pointing at them.

The relational rows come from :mod:`devtools.sample_sources`; the e-mails are built with
the IMAP tests' MIME helpers (``tests/support/mail.py``) and the Vonigo records are the fake's own
fixtures (``tests/fakes/vonigo_fake.py``), so the demo feeds the DAGs exactly what their tests do.
Those two modules live under ``tests/``: run from a checkout (or a container with ``tests/``
mounted), with the repository root on ``sys.path``.

All timestamps are relative to ``now``: a fresh demo is fresh for the freshness monitor, and the
records fall inside the window a run triggered without a logical date reads (the latest complete
interval of each DAG's schedule, widened by its overlap).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bi_pipelines.credentials import CREDENTIAL_FILES, load_connection
from devtools.sample_sources import FRANCHISES, seed_info_portal, seed_marts, seed_obe

# The compose demo's names: its servers are containers of its own, shared with nobody.
DEMO_NAMES = {"obe": "bi_demo_obe", "portal": "bi_demo_portal", "warehouse": "bi_demo_warehouse"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def checkout_tag(path: Path = REPO_ROOT) -> str:
    """Eight hex characters naming this checkout (a hash of its path).

    Two checkouts on one machine share the local PostgreSQL and MariaDB servers; database names
    carrying the tag keep one checkout's demo from dropping the other's databases.
    """
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]


def local_demo_names(env: dict[str, str] | None = None, path: Path = REPO_ROOT) -> dict[str, str]:
    """The sample databases of ``make demo`` for this checkout, e.g. ``bi_demo_1a2b3c4d_obe``.

    ``DEMO_OBE_DB``, ``DEMO_PORTAL_DB`` and ``DEMO_WAREHOUSE_DB`` override each name.
    """
    env = os.environ if env is None else env
    tag = checkout_tag(path)
    return {key: env.get(f"DEMO_{key.upper()}_DB") or f"bi_demo_{tag}_{key}" for key in DEMO_NAMES}


def metadata_database_name(purpose: str = "", path: Path = REPO_ROOT) -> str:
    """Airflow's metadata database on the local PostgreSQL for this checkout:
    ``airflow_meta_<tag>`` for ``make run``, ``airflow_meta_<tag>_<purpose>`` otherwise (the demo)."""
    return "_".join(filter(None, ["airflow_meta", checkout_tag(path), purpose]))


def postgres_server(env: dict[str, str] | None = None, prefix: str = "DEMO_PG") -> DemoDatabase:
    """The local PostgreSQL server (``<prefix>_HOST``/``_PORT``/``_USER``/``_PASSWORD``, default
    127.0.0.1:5432 as postgres, no password), with no database chosen."""
    env = os.environ if env is None else env
    return DemoDatabase(
        "postgres",
        env.get(f"{prefix}_HOST", "127.0.0.1"),
        int(env.get(f"{prefix}_PORT", "5432")),
        env.get(f"{prefix}_USER", "postgres"),
        env.get(f"{prefix}_PASSWORD", ""),
        "",
    )


def server_answers(server: DemoDatabase, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``server`` succeeds within ``timeout`` seconds."""
    import socket

    try:
        with socket.create_connection((server.host, server.port), timeout=timeout):
            return True
    except OSError:
        return False


# -- databases ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoDatabase:
    """A database on a PostgreSQL or MariaDB server, and how to log in to it."""

    kind: str  # "postgres" or "mysql"
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    name: str = ""

    def connect(self, database: str | None = None):
        """A DB-API connection to ``database`` (default: this database; "" for the server only)."""
        name = self.name if database is None else database
        if self.kind == "postgres":
            import psycopg2

            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=name or "postgres",
                connect_timeout=10,
            )
        import MySQLdb

        kwargs = {"database": name} if name else {}
        return MySQLdb.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            charset="utf8mb4",
            connect_timeout=10,
            **kwargs,
        )

    def sqlalchemy_url(self) -> str:
        """The URL Airflow's ``[database] sql_alchemy_conn`` takes for this PostgreSQL database."""
        from urllib.parse import quote

        if self.kind != "postgres":
            raise ValueError("Airflow's metadata database here is PostgreSQL")
        login = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgresql+psycopg2://{login}@{self.host}:{self.port}/{self.name}"

    def exists(self) -> bool:
        with self._admin() as cur:
            if self.kind == "postgres":
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,))
            else:
                cur.execute("SHOW DATABASES LIKE %s", (self.name,))
            return cur.fetchone() is not None

    def ensure(self) -> bool:
        """Create the database unless it exists; return whether it was created."""
        if self.exists():
            return False
        self.create()
        return True

    def create(self) -> None:
        with self._admin() as cur:
            if self.kind == "postgres":
                cur.execute(f'CREATE DATABASE "{self.name}"')
            else:
                cur.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def recreate(self) -> None:
        """Drop the database if it exists and create it empty (a repeatable demo)."""
        self.drop()
        self.create()

    def drop(self) -> None:
        with self._admin() as cur:
            if self.kind == "postgres":
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            else:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def count(self, sql: str) -> int:
        """The single number a ``SELECT count(*) ...`` returns."""
        conn = self.connect()
        try:
            with contextlib.closing(conn.cursor()) as cur:
                cur.execute(sql)
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def query(self, sql: str) -> list[tuple]:
        conn = self.connect()
        try:
            with contextlib.closing(conn.cursor()) as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Any]:
        # Database names are fixed by the demo or generated by the tests, never user input; they
        # are still checked, because CREATE DATABASE takes no bind parameters.
        if not self.name.replace("_", "").isalnum():
            raise ValueError(f"refusing an unusual database name {self.name!r}")
        conn = self.connect(database="")
        if self.kind == "postgres":
            conn.autocommit = True
        try:
            with contextlib.closing(conn.cursor()) as cur:
                yield cur
        finally:
            conn.close()


@dataclass(frozen=True)
class DemoDatabases:
    """The three sample databases: OBE (MariaDB), the Info Portal and the warehouse stand-in."""

    obe: DemoDatabase
    portal: DemoDatabase
    warehouse: DemoDatabase

    @classmethod
    def on(cls, postgres: DemoDatabase, mysql: DemoDatabase, names: dict[str, str] | None = None):
        """The demo databases on two servers (``postgres``/``mysql`` give host, port and login)."""
        names = names or DEMO_NAMES
        return cls(
            obe=replace(mysql, name=names["obe"]),
            portal=replace(postgres, name=names["portal"]),
            warehouse=replace(postgres, name=names["warehouse"]),
        )

    def all(self) -> tuple[DemoDatabase, ...]:
        return (self.obe, self.portal, self.warehouse)


def seed_databases(
    databases: DemoDatabases, now: dt.datetime, recreate: bool = True
) -> dict[str, dict[str, int]]:
    """Fill the three databases with sample rows (after dropping and creating them again, unless
    ``recreate`` is false: the tests' databases are new); return the row counts."""
    seeders = (
        (databases.obe, seed_obe),
        (databases.portal, seed_info_portal),
        (databases.warehouse, seed_marts),
    )
    summary = {}
    for database, seed in seeders:
        if recreate:
            database.recreate()
        conn = database.connect()
        try:
            summary[database.name] = seed(conn, now)
        finally:
            conn.close()
    return summary


# -- credentials files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    login: str
    password: str = field(repr=False)
    ssl: bool = True
    verify_certificate: bool = True


@dataclass(frozen=True)
class VonigoAccount:
    host: str  # host:port of the fake
    username: str
    password: str = field(repr=False)
    scheme: str = "http"


def credentials_values(
    databases: DemoDatabases, imap: ImapAccount, vonigo: VonigoAccount
) -> dict[str, dict[str, Any]]:
    """The keys of each credentials file, in the runbook's formats plus the optional keys a local
    stand-in needs (a port, ``engine = 'postgres'`` for the warehouse, plain HTTP for the fake)."""
    obe, portal, warehouse = databases.obe, databases.portal, databases.warehouse
    return {
        "info_portal_postgres": {
            "username": portal.user,
            "password": portal.password,
            "host": portal.host,
            "dbname": portal.name,
            "port": str(portal.port),
        },
        "redshift_dw": {
            "username": warehouse.user,
            "password": warehouse.password,
            "cluster": "demo-warehouse",
            "db_name": warehouse.name,
            "host": warehouse.host,
            "port": str(warehouse.port),
            "engine": "postgres",
        },
        "bi_imap": {
            "imap_username": imap.login,
            "imap_password": imap.password,
            "imap_host": imap.host,
            "imap_port": str(imap.port),
            "imap_ssl": imap.ssl,
            "imap_verify_certificate": imap.verify_certificate,
        },
        "obe_mysql": {
            "instance_ip": obe.host,
            "database_name": obe.name,
            "user": obe.user,
            "password": obe.password,
            "portal": str(obe.port),
        },
        "vonigo_api": {
            "username": vonigo.username,
            "raw_password": vonigo.password,
            "host": vonigo.host,
            "scheme": vonigo.scheme,
            "company": "Vonigo",
        },
    }


def write_credentials_file(directory: Path, conn_id: str, values: dict[str, Any]) -> Path:
    """Write one credentials file (owner-only), then read it back the way Airflow will."""
    spec = CREDENTIAL_FILES[conn_id]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / spec.filename
    lines = [
        f"# Demo credentials for `{conn_id}`, written by devtools/demo.py: local throw-away servers only.",
        *(f"{key} = {value!r}" for key, value in values.items()),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Created owner-only: the file is never readable by others, not even for a moment.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    tmp.replace(path)
    # A file Airflow cannot read should fail here, naming the file, not in the first task.
    load_connection(conn_id, directory)
    return path


def write_credentials(directory: Path, values: dict[str, dict[str, Any]]) -> list[Path]:
    return [write_credentials_file(directory, conn_id, v) for conn_id, v in values.items()]


# -- report e-mails -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleMail:
    folder: str
    message: bytes
    received: dt.datetime
    description: str


def _money(value: float) -> str:
    """The POS vendor's number format: space for thousands, comma for decimals."""
    return f"{value:,.2f}".replace(",", " ").replace(".", ",")


def sample_report_emails(now: dt.datetime, seed: int = 4) -> list[SampleMail]:
    """The BI mailbox of the demo: two days of POS sales reports, a weekly call-centre workbook and
    a newsletter that matches no report.

    Received times are a few hours to a day and a half before ``now``: inside the 2-day overlap of
    an ``extract_bi_imap`` run triggered now, and fresh for the freshness monitor.
    """
    from devtools.mail import XLSX_TYPE, Attachment, call_centre_xlsx, franchise_sales_csv, report_email

    rnd = random.Random(seed)
    mails = []
    for days_back, hours_ago in ((1, 3), (2, 27)):
        day = (now - dt.timedelta(days=days_back)).date()
        received = now - dt.timedelta(hours=hours_ago)
        attachments = []
        for province in sorted({f[2] for f in FRANCHISES}):
            rows = []
            for franchise_id, name, prov, _zone in FRANCHISES:
                if prov != province:
                    continue
                gross = rnd.uniform(4000, 26000)
                closed = dt.datetime.combine(day, dt.time(21, rnd.randint(0, 59)))  # Toronto wall clock
                rows.append(
                    [
                        str(franchise_id),
                        name,
                        _money(gross),
                        _money(gross * 0.92),
                        str(rnd.randint(80, 450)),
                        closed.strftime("%Y-%m-%d %H:%M"),
                        "oui" if franchise_id % 100 == 1 else "non",
                    ]
                )
            attachments.append(
                Attachment(
                    f"Ventes_{province}_{day.isoformat()}.csv", franchise_sales_csv(day.isoformat(), rows)
                )
            )
        mails.append(
            SampleMail(
                "INBOX",
                report_email(
                    sender="reports@pos-vendor.example",
                    subject=f"Daily franchise sales {day.isoformat()}",
                    attachments=attachments,
                    sent=received - dt.timedelta(minutes=2),
                ),
                received,
                f"POS daily sales {day} ({len(attachments)} CSV files)",
            )
        )
    # The last complete week, Monday to Sunday.
    week_start = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday() + 7), dt.time())
    workbook = call_centre_xlsx(
        [
            [
                week_start,
                franchise_id,
                (offered := rnd.randint(150, 600)),
                offered - rnd.randint(5, 40),
                round(rnd.uniform(150, 260), 1),
                round(rnd.uniform(0.8, 0.97), 2),
                week_start + dt.timedelta(days=6, hours=17, minutes=rnd.randint(0, 59)),
            ]
            for franchise_id, *_ in FRANCHISES
        ]
    )
    received = now - dt.timedelta(hours=30)
    mails.append(
        SampleMail(
            "Reports/Call Centre",
            report_email(
                sender="noreply@callcentre.example",
                subject=f"Weekly Call-Centre Report, week of {week_start.date()}",
                attachments=[
                    Attachment(f"call_centre_{week_start.date()}.xlsx", workbook, content_type=XLSX_TYPE)
                ],
                sent=received,
            ),
            received,
            "call-centre weekly workbook",
        )
    )
    received = now - dt.timedelta(hours=5)
    mails.append(
        SampleMail(
            "INBOX",
            report_email(
                sender="news@supplier.example",
                subject="Our autumn catalogue",
                body="Not a report: the DAG leaves this one alone.\n",
                sent=received,
            ),
            received,
            "a newsletter (matches no report)",
        )
    )
    return mails


def load_mailbox(append: Callable[[str, bytes, dt.datetime], Any], mails: Iterable[SampleMail]) -> int:
    """Append each mail with ``append(folder, message, received)``; return how many."""
    count = 0
    for mail in mails:
        append(mail.folder, mail.message, mail.received)
        count += 1
    return count


def imap_appender(account: ImapAccount) -> Callable[[str, bytes, dt.datetime], Any]:
    """``append`` for :func:`load_mailbox` over plain IMAP/IMAPS with any server (the compose demo)."""

    def append(folder: str, message: bytes, received: dt.datetime) -> None:
        import ssl

        from imapclient import IMAPClient

        context = ssl.create_default_context()
        if not account.verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client = IMAPClient(
            account.host, port=account.port, ssl=account.ssl, ssl_context=context if account.ssl else None
        )
        try:
            client.login(account.login, account.password)
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, message, msg_time=received)
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    return append


# -- Vonigo -----------------------------------------------------------------------------------------
def vonigo_reference(now: dt.datetime) -> int:
    """The instant the fake's fixtures are built around: one minute before the current hour began.

    A run triggered without a logical date reads the latest complete hour plus a 2-hour overlap;
    anchoring the fixtures just before that hour ends puts the recently edited records inside it.
    """
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return int((hour - dt.timedelta(minutes=1)).timestamp())


def vonigo_fixtures(now: dt.datetime) -> dict[str, Any]:
    """The fake's default fixtures (two franchises, every object), with recent dates."""
    from devtools.vonigo_fake import default_fixtures

    return default_fixtures(reference=vonigo_reference(now))


def vonigo_login() -> tuple[str, str]:
    """The fake's built-in API user and password."""
    from devtools.vonigo_fake import FAKE_PASSWORD, FAKE_USER

    return FAKE_USER, FAKE_PASSWORD


# -- Airflow's metadata database ---------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.seeding metadata-url [--recreate] [--purpose demo]``: make sure this
    checkout's metadata database exists on the local PostgreSQL and print its SQLAlchemy URL
    (used by ``scripts/run_airflow.sh`` for ``make run METADATA_DB=postgres``)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m devtools.seeding")
    commands = parser.add_subparsers(dest="command", required=True)
    url = commands.add_parser("metadata-url", help="create the metadata database if missing, print its URL")
    url.add_argument("--purpose", default="", help="a suffix: airflow_meta_<tag>_<purpose>")
    url.add_argument("--recreate", action="store_true", help="drop it first (a fresh start)")
    args = parser.parse_args(argv)
    server = postgres_server(prefix="BI_METADATA_PG")
    if not server_answers(server):
        print(f"PostgreSQL does not answer on {server.host}:{server.port}", file=sys.stderr)
        return 2
    database = replace(server, name=metadata_database_name(args.purpose))
    if args.recreate:
        database.recreate()
        print(f"created {database.name} on {server.host}:{server.port} (fresh)", file=sys.stderr)
    elif database.ensure():
        print(f"created {database.name} on {server.host}:{server.port}", file=sys.stderr)
    print(database.sqlalchemy_url())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
