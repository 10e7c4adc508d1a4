"""Configuration of the pipelines: YAML files in this folder, loaded into frozen dataclasses.

``extract_*.yaml`` describe relational flows (one DAG each), ``freshness.yaml`` the extra tables the
freshness monitor watches. Loading validates everything and raises :class:`ConfigError` naming the
file and the key at fault.
"""

from bi_pipelines.config.models import (
    Dag,
    FlowSpec,
    FreshnessThresholds,
    TableSpec,
    load_flow,
    load_flows,
    parse_duration,
)

__all__ = [
    "Dag",
    "FlowSpec",
    "FreshnessThresholds",
    "TableSpec",
    "load_flow",
    "load_flows",
    "parse_duration",
]
