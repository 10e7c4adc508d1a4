"""How a row's thresholds were set, as recorded in the results table's ``threshold_mode`` column.

``fixed``: the configured ``warn_after``/``error_after``. ``learned`` and ``learning`` are the
values of the columns for thresholds learned from a table's own update history; every row is
``fixed`` for now, and the ``expected_next_update``/``learned_*`` columns are NULL.
"""

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
