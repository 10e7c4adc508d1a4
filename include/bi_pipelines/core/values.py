"""Normalising values that arrive as text from files and APIs."""

from __future__ import annotations

from typing import Any, overload

# English and French, as the franchise reports and Vonigo's API write them.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "oui", "vrai"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "non", "faux"})


@overload
def parse_bool(value: Any, default: bool) -> bool: ...
@overload
def parse_bool(value: Any, default: None = None) -> bool | None: ...
def parse_bool(value: Any, default: bool | None = None) -> bool | None:
    """``True``/``"true"``/``"Yes"``/``1`` -> True, their opposites -> False, anything else -> ``default``.

    Args:
        value: A bool, a number or a text (case and surrounding spaces ignored).
        default: What ``None``, an empty text or an unknown word means (a connection extra that
            is not set: its default; a data cell: None, unknown).
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else default
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return default
