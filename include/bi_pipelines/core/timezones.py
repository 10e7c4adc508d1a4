"""Naive local times to UTC: the one rule every source and the freshness monitor share.

A naive value (a ``timestamp`` column, a MySQL ``DATETIME``, a report's local time, a Vonigo
"naive local" date) is a wall-clock reading in a configured zone. Twice a year that reading is
not one instant: in autumn it occurs twice, in spring it does not occur at all. The rule here
is PostgreSQL's (``timestamp AT TIME ZONE zone``): both cases are read as standard time, which
is always the later of the two UTC instants Python's ``fold`` offers --

- ambiguous ``2026-11-01 01:30`` in America/Vancouver is 01:30 PST, ``09:30Z``;
- skipped ``2026-03-08 02:30`` is 02:30 PST as well, ``10:30Z`` (03:30 PDT).

Sources whose zone is converted by the server (PostgreSQL ``AT TIME ZONE``, the MySQL COPY
text PostgreSQL parses) and values converted in Python therefore agree to the second.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def local_to_utc(value: dt.datetime, zone: dt.tzinfo | str) -> dt.datetime:
    """Read a naive local time in ``zone`` and return the aware UTC instant.

    Args:
        value: A naive wall-clock time (an aware one is only converted to UTC).
        zone: A ``tzinfo`` or an IANA zone name.

    Returns:
        The instant in UTC; an ambiguous or skipped local time is read as standard time.
    """
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    # fold=0 and fold=1 differ only at a transition; standard time is the later instant both in
    # a repeated hour (the offset after the transition) and in a skipped one (the offset before).
    first = value.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    second = value.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    return max(first, second)


__all__ = ["local_to_utc"]
