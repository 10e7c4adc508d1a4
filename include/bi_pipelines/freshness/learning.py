"""Thresholds learned from a table's own history (placeholder, filled below)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FIXED, LEARNED, LEARNING = "fixed", "learned", "learning"


@dataclass(frozen=True)
class Expectation:
    """What a table's history makes plausible at one check."""

    mode: str
    warn_after: dt.timedelta | None = None
    error_after: dt.timedelta | None = None
    gap: dt.timedelta | None = None
    quantile: float | None = None
    samples: int | None = None
    expected_next_update: dt.datetime | None = None
