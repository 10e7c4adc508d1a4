"""Annotated types for configuration values: durations, cron expressions, time zones, identifiers.

Each type is a plain Python type (``timedelta``, ``str``) with a validator that gives the
readable message a configuration error needs; :func:`bi_pipelines.core.settings.config_error`
prefixes it with the file and key.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field

# A full match (``fullmatch``), so a trailing newline is refused, unlike ``$``.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
_DURATION = re.compile(r"\s*(\d+)\s*(s|m|min|h|d)?\s*")
_DURATION_UNITS = {
    "s": "seconds",
    "m": "minutes",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    None: "minutes",
}
_CRON_FIELD = re.compile(r"[\d*/,\-A-Za-z?LW#]+")


def to_duration(value: Any) -> dt.timedelta:
    """``90``, ``"90m"``, ``"2h"``, ``"1d"`` or ``"30s"`` (a bare number is minutes) as a timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    match = None if isinstance(value, bool) else _DURATION.fullmatch(str(value))
    if not match:
        raise ValueError(f"expected a duration like '90m', '2h' or '1d', got {value!r}")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def to_cron(value: Any) -> str:
    """A five-field cron expression, blanks normalised; presets such as ``@daily`` are refused."""
    fields = str(value).split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError(f"{value!r} is not a five-field cron expression such as '15 * * * *'")
    return " ".join(fields)


def to_time_zone(value: Any) -> str:
    """``value`` if it names an IANA time zone (``UTC``, ``America/Vancouver``)."""
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'UTC')") from None
    return str(value)


def to_identifier(value: Any) -> str:
    """``value`` if it is a plain SQL identifier (letters, digits, ``_``, ``$``; at most 63)."""
    if not isinstance(value, str) or not IDENTIFIER_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid identifier (letters, digits, _ and $, "
            "starting with a letter or _, at most 63 characters)"
        )
    return value


Duration = Annotated[dt.timedelta, BeforeValidator(to_duration)]
Cron = Annotated[str, BeforeValidator(to_cron)]
TimeZoneName = Annotated[str, BeforeValidator(to_time_zone)]
Identifier = Annotated[str, BeforeValidator(to_identifier)]
# Counts and sizes: a YAML ``true`` or ``"5"`` is a mistake, not a number.
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0)]
# How a table's thresholds are set: ``fixed`` (the configured durations) or ``learned`` (from the
# table's own update history; ``warn_after: auto`` / ``error_after: auto`` ask for it too).
ThresholdMode = Literal["fixed", "learned"]
AUTO = "auto"
