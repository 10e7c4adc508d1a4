"""The shared configuration machinery: reading a YAML file into a pydantic model, the one error format.

Every configuration (the relational flows, ``imap_reports.yaml``, ``vonigo.yaml``,
``freshness.yaml``) is a tree of :class:`ConfigModel` classes: unknown keys are refused, values
are typed by :mod:`bi_pipelines.core.types`, and cross-field rules are model validators. A
:class:`pydantic.ValidationError` becomes one :class:`ConfigError` whose lines read
``<file>.yaml.<path>.<key>: <what is wrong>``.

Every DAG's settings are a :class:`Dag` (the ``dag:`` section), so all DAGs share the same rules
(absolute tz-aware start date, cron schedule, explicit catchup, owner, tags, retries).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.types import (
    AUTO,
    Cron,
    Duration,
    Identifier,
    PositiveInt,
    ThresholdMode,
    TimeZoneName,
    to_duration,
)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

Model = TypeVar("Model", bound="ConfigModel")


class ConfigModel(BaseModel):
    """Base of every configuration model: frozen, unknown keys refused, ``null`` means "not set"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        # YAML's ``key:`` with no value (or ``null``) leaves the key at its default.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class PositionalModel(ConfigModel):
    """A model that also takes its fields positionally, in declaration order, like a dataclass.

    Only for small value objects built in code (``FreshnessThresholds(warn, error)``): pydantic
    routes validation through a custom ``__init__``, which drops the validation context.
    """

    def __init__(self, /, *args: Any, **data: Any) -> None:
        names = [f.alias or name for name, f in type(self).model_fields.items()]
        data.update(zip(names, args, strict=False))
        super().__init__(**data)


def problem(key: str | None, message: str) -> PydanticCustomError:
    """An error for a model validator to raise, reported at ``key`` of the model it validates."""
    return PydanticCustomError("config", "{message}", {"key": key, "message": message})


def env_var(stem: str) -> str:
    """The variable that replaces ``<stem>.yaml``: ``BI_<STEM>_CONFIG``."""
    return f"BI_{stem.upper()}_CONFIG"


def config_path(stem: str, path: str | Path | None = None) -> Path:
    """The file for the configuration ``stem``: ``path``, else ``$BI_<STEM>_CONFIG``, else the committed one."""
    return Path(path or os.environ.get(env_var(stem)) or CONFIG_DIR / f"{stem}.yaml")


def read_config(path: Path, what: str, hint: str = "") -> Any:
    """Read a YAML configuration file.

    Args:
        path: The file.
        what: What it configures, for messages ("IMAP reports configuration").
        hint: Added to the message when the file cannot be read (where else to look).

    Raises:
        ConfigError: the file cannot be read or is not YAML.
    """
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise ConfigError(f"{path}: cannot read the {what}: {reason}{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None


def load_model(
    model: type[Model], path: Path, what: str, *, hint: str = "", context: dict | None = None
) -> Model:
    """Read ``path`` and validate it as ``model``; any problem is a :class:`ConfigError`."""
    raw = read_config(path, what, hint)
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        raise config_error(exc, path.name) from None


_TYPE_NAMES = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "float_type": "float",
    "float_parsing": "float",
    "list_type": "list",
    "tuple_type": "list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
}


def _where(file_name: str, loc: tuple) -> str:
    return file_name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _what(error: ErrorDetails) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    if kind in ("enum", "literal_error"):
        choices = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return f"must be one of {choices}, got {value!r}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {value!r}"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {type(value).__name__}"
    message = error["msg"]
    return message[:1].lower() + message[1:]


def config_error(exc: ValidationError, file_name: str) -> ConfigError:
    """One :class:`ConfigError` for all of a validation's problems, a line each.

    Lines read ``<file>.<path>.<key>: <what is wrong>``; unknown keys of one mapping share a line.
    """
    lines: list[str | tuple] = []  # a tuple stands for the unknown keys of that mapping
    unknown: dict[tuple, list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            if loc[:-1] not in unknown:
                lines.append(loc[:-1])
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        key = (error.get("ctx") or {}).get("key")
        lines.append(f"{_where(file_name, (*loc, key) if key else loc)}: {_what(error)}")
    return ConfigError(
        "\n".join(
            line
            if isinstance(line, str)
            else f"{_where(file_name, line)}: unknown key(s) {', '.join(unknown[line])}"
            for line in lines
        )
    )


def parse_duration(value: Any, where: str) -> dt.timedelta:
    """Parse ``90``, ``"90m"``, ``"2h"``, ``"1d"`` or ``"30s"`` (a bare number is minutes)."""
    try:
        return to_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# A task that has not finished in this time is stuck (a silent server, a lock held elsewhere):
# failing it frees the DAG's single active run for the next interval. ``dag.execution_timeout``
# changes it per DAG.
DEFAULT_EXECUTION_TIMEOUT = dt.timedelta(hours=1)


class Dag(ConfigModel):
    """Settings every DAG of the repository has (the ``dag:`` section).

    ``start_date`` is a naive ISO date-time read in ``timezone``. ``dag_id`` defaults to the
    ``dag_id`` of the validation context (the file's own default).
    """

    dag_id: Identifier
    schedule: Cron
    timezone: TimeZoneName = "UTC"
    start_date: dt.datetime
    catchup: StrictBool = False
    owner: str = "bi-team"
    tags: tuple[str, ...] = ()
    retries: StrictInt = 2
    retry_delay: Duration = dt.timedelta(minutes=5)
    max_active_runs: PositiveInt = 1
    description: str = ""
    # Every task's bound; a builder's own tighter per-task bounds stay unless this is smaller.
    execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT

    @model_validator(mode="before")
    @classmethod
    def _default_dag_id(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "dag_id" not in data and info.context and "dag_id" in info.context:
            return {**data, "dag_id": info.context["dag_id"]}
        return data

    @field_validator("execution_timeout")
    @classmethod
    def _bounded_timeout(cls, value: dt.timedelta) -> dt.timedelta:
        if not dt.timedelta(minutes=1) <= value <= dt.timedelta(hours=6):
            raise ValueError(f"expected a duration from 1m to 6h, got {value}")
        return value

    @field_validator("start_date", mode="before")
    @classmethod
    def _iso(cls, value: Any, info: ValidationInfo) -> dt.datetime:
        try:
            start = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date-time") from None
        if start.tzinfo is None and "timezone" in info.data:
            start = start.replace(tzinfo=ZoneInfo(info.data["timezone"]))
        return start

    @field_validator("retries")
    @classmethod
    def _enough_retries(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"at least 2 retries are required, got {value}")
        return value


def auto_to_learned(data: Any) -> Any:
    """``warn_after: auto`` / ``error_after: auto`` mean ``mode: learned``; the level stays unset.

    A duration given next to ``auto`` (or next to ``mode: learned``) is what applies while the
    table's history is still too short to learn from.
    """
    if not isinstance(data, dict):
        return data
    auto = [
        k for k in ("warn_after", "error_after") if isinstance(data.get(k), str) and data[k].strip() == AUTO
    ]
    if not auto:
        return data
    if data.get("mode", "learned") != "learned":
        raise ValueError(f"{auto[0]}: auto learns the thresholds; it contradicts mode: {data['mode']}")
    return {**{k: v for k, v in data.items() if k not in auto}, "mode": "learned"}


class FreshnessThresholds(PositionalModel):
    """When a source table counts as stale; ``None`` disables a level.

    ``mode: learned`` (or ``warn_after: auto`` / ``error_after: auto``) judges the table against
    its own update history instead (see ``bi_pipelines.freshness.learning``); the durations then
    apply only while that history is too short.
    """

    warn_after: Duration | None = None
    error_after: Duration | None = None
    check_interval: Duration = dt.timedelta(minutes=15)
    active: StrictBool = True
    mode: ThresholdMode = "fixed"

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        return auto_to_learned(data)

    @model_validator(mode="after")
    def _warn_before_error(self) -> FreshnessThresholds:
        check_order(self.warn_after, self.error_after)
        return self

    def over(self, base: FreshnessThresholds) -> FreshnessThresholds:
        """These thresholds where set explicitly, ``base``'s for every key left unset."""
        merged = {**base.model_dump(), **{k: getattr(self, k) for k in self.model_fields_set}}
        return type(self).model_validate(merged)


def check_order(warn_after: dt.timedelta | None, error_after: dt.timedelta | None) -> None:
    """Refuse a warning level that comes after the error level."""
    if warn_after and error_after and warn_after > error_after:
        raise ValueError("warn_after must not be longer than error_after")


__all__ = [
    "CONFIG_DIR",
    "ConfigModel",
    "Dag",
    "FreshnessThresholds",
    "PositionalModel",
    "config_error",
    "config_path",
    "env_var",
    "load_model",
    "parse_duration",
    "problem",
    "read_config",
]
