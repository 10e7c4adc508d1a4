"""Realistic sample data for the three relational sources, shaped like the shipped configuration.

Used by ``make demo`` and by the tests that run the DAGs end to end. Deterministic: the same
``seed`` and ``now`` give the same rows. ``now`` anchors the timestamps so the freshness monitor
and the latest-interval runs find recent data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

VANCOUVER = ZoneInfo("America/Vancouver")
FRANCHISES = [
    (101, "Vancouver Downtown", "BC", "America/Vancouver"),
    (102, "Burnaby", "BC", "America/Vancouver"),
    (201, "Toronto East", "ON", "America/Toronto"),
    (202, "Mississauga", "ON", "America/Toronto"),
    (301, "Montréal Centre", "QC", "America/Toronto"),
    (401, "Seattle North", "WA", "America/Los_Angeles"),
]
SERVICES = ["junk_removal", "moving", "painting", "window_cleaning"]
FIRST = [
    "Zoë",
    "Liam",
    "Noah",
    "Émilie",
    "Olivia",
    "Chloé",
    "Mateo",
    "Ava",
    "Sofía",
    "Lucas",
    "Mia",
    "Jürgen",
]
LAST = ["Smith", "Tremblay", "O'Brien", "Nguyen", "García", "Wong", "MacDonald", "Singh", "Roy", "Lee"]

OBE_DDL = [
    """CREATE TABLE franchises (
        franchise_id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, province CHAR(2),
        timezone VARCHAR(40), active TINYINT(1) NOT NULL DEFAULT 1, updated_at DATETIME NOT NULL)""",
    """CREATE TABLE customers (
        customer_id BIGINT PRIMARY KEY, franchise_id INT NOT NULL, full_name VARCHAR(200),
        email VARCHAR(200), phone VARCHAR(30), marketing_opt_in TINYINT(1),
        created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, KEY (updated_at))""",
    """CREATE TABLE bookings (
        booking_id BIGINT PRIMARY KEY, franchise_id INT NOT NULL, customer_id BIGINT NOT NULL,
        service_type ENUM('junk_removal','moving','painting','window_cleaning') NOT NULL,
        status ENUM('requested','confirmed','completed','cancelled') NOT NULL,
        scheduled_start DATETIME, estimate_amount DECIMAL(12,2), is_online TINYINT(1),
        notes TEXT, metadata JSON, booked_at DATETIME NOT NULL,
        created_ts TIMESTAMP NULL DEFAULT NULL, updated_at DATETIME NOT NULL, KEY (updated_at))""",
    """CREATE TABLE booking_payments (
        payment_id BIGINT PRIMARY KEY, booking_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
        currency CHAR(3) NOT NULL, method VARCHAR(20), paid_at DATETIME NOT NULL, KEY (paid_at))""",
]

PORTAL_DDL = [
    "CREATE SCHEMA IF NOT EXISTS portal",
    """CREATE TABLE portal.franchise_contacts (
        contact_id integer PRIMARY KEY, franchise_id integer NOT NULL, full_name text NOT NULL,
        role text NOT NULL, email text, phone text, modified_at timestamp NOT NULL)""",
    """CREATE TABLE portal.kpi_targets (
        franchise_id integer NOT NULL, kpi_code text NOT NULL, period_start date NOT NULL,
        target_value numeric(14,2) NOT NULL, modified_at timestamp NOT NULL,
        PRIMARY KEY (franchise_id, kpi_code, period_start))""",
    """CREATE TABLE portal.announcements (
        announcement_id integer PRIMARY KEY, title text NOT NULL, body text, audience text[],
        published_at timestamp NOT NULL)""",
]

MART_DDL = [
    "CREATE SCHEMA IF NOT EXISTS mart",
    """CREATE TABLE mart.franchise_daily_revenue (
        franchise_id integer NOT NULL, revenue_date date NOT NULL, bookings integer NOT NULL,
        revenue numeric(14,2) NOT NULL, refreshed_at timestamptz NOT NULL,
        PRIMARY KEY (franchise_id, revenue_date))""",
    """CREATE TABLE mart.franchise_scorecard (
        franchise_id integer PRIMARY KEY, nps numeric(5,1), completion_rate numeric(5,4),
        rank integer, refreshed_at timestamptz NOT NULL)""",
]


def _local(ts: dt.datetime) -> dt.datetime:
    """A UTC instant as the naive Vancouver local time the sources store."""
    return ts.astimezone(VANCOUVER).replace(tzinfo=None)


def seed_obe(conn, now: dt.datetime, bookings: int = 2000, seed: int = 1) -> dict[str, int]:
    """Create and fill the OBE tables in the current database of a MySQL/MariaDB connection.

    Timestamps spread over the 48 hours before ``now`` (UTC), stored as Vancouver local time.
    """
    rnd = random.Random(seed)
    cur = conn.cursor()
    cur.execute("SET time_zone = '+00:00'")
    for ddl in OBE_DDL:
        cur.execute(ddl)
    cur.executemany(
        "INSERT INTO franchises VALUES (%s, %s, %s, %s, 1, %s)",
        [(f[0], f[1], f[2], f[3], _local(now - dt.timedelta(days=3))) for f in FRANCHISES],
    )
    customers = []
    for cid in range(1, bookings // 2 + 1):
        created = now - dt.timedelta(hours=rnd.uniform(1, 48))
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        customers.append(
            (
                cid,
                rnd.choice(FRANCHISES)[0],
                name,
                f"customer{cid}@example.com",
                f"604-555-{cid % 10000:04d}",
                rnd.random() < 0.4,
                _local(created),
                _local(created + dt.timedelta(minutes=rnd.randint(0, 30))),
            )
        )
    cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", customers)
    rows, payments = [], []
    for bid in range(1, bookings + 1):
        booked = now - dt.timedelta(hours=rnd.uniform(0.2, 48))
        updated = min(now - dt.timedelta(minutes=5), booked + dt.timedelta(minutes=rnd.randint(0, 120)))
        status = rnd.choice(["requested", "confirmed", "completed", "cancelled"])
        amount = round(rnd.uniform(89, 1800), 2)
        rows.append(
            (
                bid,
                rnd.choice(FRANCHISES)[0],
                rnd.randint(1, len(customers)),
                rnd.choice(SERVICES),
                status,
                _local(booked + dt.timedelta(days=rnd.randint(1, 14))),
                amount,
                rnd.random() < 0.6,
                "Side gate code 1234\nCall on arrival" if bid % 17 == 0 else None,
                json.dumps({"channel": rnd.choice(["web", "phone", "app"])}),
                _local(booked),
                booked.replace(tzinfo=None),
                _local(updated),
            )
        )
        if status == "completed":
            payments.append(
                (bid, bid, amount, "CAD", rnd.choice(["card", "cash", "etransfer"]), _local(updated))
            )
    cur.executemany("INSERT INTO bookings VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    cur.executemany("INSERT INTO booking_payments VALUES (%s, %s, %s, %s, %s, %s)", payments)
    conn.commit()
    cur.close()
    return {
        "franchises": len(FRANCHISES),
        "customers": len(customers),
        "bookings": len(rows),
        "payments": len(payments),
    }


def seed_info_portal(conn, now: dt.datetime, seed: int = 2) -> dict[str, int]:
    """Create and fill the Info Portal's ``portal`` schema on a PostgreSQL connection."""
    rnd = random.Random(seed)
    with conn.cursor() as cur:
        for ddl in PORTAL_DDL:
            cur.execute(ddl)
        contacts = [
            (
                i,
                f[0],
                f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                role,
                f"{role}.{f[0]}@example.com",
                "604-555-0100",
                _local(now - dt.timedelta(hours=rnd.uniform(0.5, 40))),
            )
            for i, (f, role) in enumerate(((f, r) for f in FRANCHISES for r in ("owner", "manager")), start=1)
        ]
        for row in contacts:
            cur.execute("INSERT INTO portal.franchise_contacts VALUES (%s, %s, %s, %s, %s, %s, %s)", row)
        period = now.date().replace(day=1)
        targets = [
            (
                f[0],
                kpi,
                period,
                round(rnd.uniform(1000, 90000), 2),
                _local(now - dt.timedelta(hours=rnd.uniform(1, 40))),
            )
            for f in FRANCHISES
            for kpi in ("revenue", "bookings", "nps")
        ]
        for row in targets:
            cur.execute("INSERT INTO portal.kpi_targets VALUES (%s, %s, %s, %s, %s)", row)
        announcements = [
            (
                1,
                "Winter pricing",
                "New rates from December 1.",
                ["owners"],
                _local(now - dt.timedelta(hours=30)),
            ),
            (
                2,
                "Nouveau portail",
                "Le portail est maintenant bilingue.",
                ["owners", "managers"],
                _local(now - dt.timedelta(hours=3)),
            ),
        ]
        for row in announcements:
            cur.execute("INSERT INTO portal.announcements VALUES (%s, %s, %s, %s, %s)", row)
    conn.commit()
    return {
        "franchise_contacts": len(contacts),
        "kpi_targets": len(targets),
        "announcements": len(announcements),
    }


def seed_marts(conn, now: dt.datetime, days: int = 14, seed: int = 3) -> dict[str, int]:
    """Create and fill the warehouse's ``mart`` schema (PostgreSQL standing in for Redshift)."""
    rnd = random.Random(seed)
    refreshed = now - dt.timedelta(hours=2)
    with conn.cursor() as cur:
        for ddl in MART_DDL:
            cur.execute(ddl)
        revenue = [
            (
                f[0],
                now.date() - dt.timedelta(days=d),
                rnd.randint(3, 40),
                round(rnd.uniform(500, 25000), 2),
                refreshed - dt.timedelta(days=d - 1),  # the newest day was refreshed 2 h ago
            )
            for f in FRANCHISES
            for d in range(1, days + 1)
        ]
        for row in revenue:
            cur.execute("INSERT INTO mart.franchise_daily_revenue VALUES (%s, %s, %s, %s, %s)", row)
        for rank, f in enumerate(FRANCHISES, start=1):
            cur.execute(
                "INSERT INTO mart.franchise_scorecard VALUES (%s, %s, %s, %s, %s)",
                (f[0], round(rnd.uniform(30, 80), 1), round(rnd.uniform(0.8, 0.99), 4), rank, refreshed),
            )
    conn.commit()
    return {"franchise_daily_revenue": len(revenue), "franchise_scorecard": len(FRANCHISES)}
