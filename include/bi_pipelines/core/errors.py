"""Exceptions a person reads: each says what failed, where, and what to do."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file (YAML or credentials) is invalid."""


class ExtractionError(RuntimeError):
    """An extraction or load failed."""
