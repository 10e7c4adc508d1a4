"""Awkward source tables for the relational extraction tests."""

MYSQL_BOOKINGS_DDL = """
CREATE TABLE bookings (
  booking_id BIGINT PRIMARY KEY,
  franchise_id INT NOT NULL,
  customer_name VARCHAR(200) CHARACTER SET utf8mb4,
  status ENUM('new','confirmed','cancelled'),
  total_amount DECIMAL(30,6),
  is_online TINYINT(1),
  notes TEXT CHARACTER SET utf8mb4,
  metadata JSON,
  attachment BLOB,
  scheduled_for DATE,
  booked_at DATETIME(6),
  created_ts TIMESTAMP NULL DEFAULT NULL,
  updated_at DATETIME NOT NULL
)
"""

# (id, franchise, name, status, amount, online, notes, metadata, blob, date, booked, created, updated)
MYSQL_BOOKINGS_ROWS = [
    (
        1,
        10,
        "Zoë Ångström",
        "new",
        "123456789012345678901234.123456",
        1,
        "tab\there\nnewline \\ backslash",
        '{"source": "web", "tags": ["a", "é"]}',
        b"\x00\x01\xff",
        "2026-11-20",
        "2026-11-20 09:15:00.250000",
        "2026-11-20 17:15:00",
        "2026-11-20 09:30:00",
    ),
    (2, 10, None, None, None, None, None, None, None, None, None, None, "2026-11-20 10:30:00"),
    (
        3,
        11,
        "日本語 👍",
        "confirmed",
        "-0.000001",
        0,
        "",
        "[]",
        b"",
        "0000-00-00",
        "0000-00-00 00:00:00",
        "2026-11-20 18:00:00",
        "2026-11-20 10:45:00",
    ),
    # 01:30 happens twice in Vancouver on 2026-11-01 (DST ends): read as standard time.
    (
        4,
        12,
        "dst-ambiguous",
        "cancelled",
        "1.5",
        1,
        "x",
        None,
        None,
        "2026-11-01",
        "2026-11-01 01:30:00",
        None,
        "2026-11-20 11:10:00",
    ),
    # 02:30 never happens in Vancouver on 2026-03-08 (DST starts).
    (
        5,
        12,
        "dst-gap",
        "new",
        "2",
        0,
        "y",
        None,
        None,
        "2026-03-08",
        "2026-03-08 02:30:00",
        None,
        "2026-11-20 11:50:00",
    ),
]
