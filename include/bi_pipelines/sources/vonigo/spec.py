"""``config/vonigo.yaml`` as pydantic models: the API client, the objects, the landing.

Every value that the package README marks as assumed (date modes per object, sort
modes, page sizes, list keys, which fields hold money or franchise-local times) is a key here,
so a tenant that behaves differently is a config change, not a code change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, StrictBool, StrictInt, field_validator

from bi_pipelines.core.settings import (
    CONFIG_DIR,
    ConfigModel,
    Dag,
    FreshnessThresholds,
    PositionalModel,
    config_path,
    env_var,
    load_model,
    problem,
)
from bi_pipelines.core.types import (
    Duration,
    Identifier,
    NonNegativeFloat,
    PositiveInt,
    TimeZoneName,
    to_time_zone,
)

CONFIG_STEM = "vonigo"
VONIGO_CONFIG = CONFIG_DIR / f"{CONFIG_STEM}.yaml"
# Tests and demos point the DAG at another file without editing the committed one.
CONFIG_PATH_ENV = env_var(CONFIG_STEM)

DATE_MODES = {1: "created", 2: "edited", 3: "service"}
EDITED = 2
LIST_METHODS = ("", "0", "-1")
FieldIds = tuple[Annotated[int, Field(strict=True)], ...]


class ClientSettings(ConfigModel):
    """How the client talks to Vonigo (transport, retries, paging)."""

    conn_id: Identifier = "vonigo_api"
    api_path: str = "/api/v1/"
    user_agent: str = "bi-pipelines-vonigo-extractor/1.0 (Apache Airflow; BI team)"
    app_version: str | None = "1"
    connect_timeout: NonNegativeFloat = 10.0
    read_timeout: NonNegativeFloat = 120.0
    attempts: PositiveInt = 5
    backoff_seconds: NonNegativeFloat = 2.0
    max_backoff_seconds: NonNegativeFloat = 60.0
    jitter: NonNegativeFloat = 0.25
    page_size: PositiveInt = 200
    max_pages: PositiveInt = 200
    # Each object list is read until two consecutive passes agree (edits during paging shift
    # offset pages); this many passes at most.
    max_passes: Annotated[int, Field(strict=True, ge=2)] = 4
    switch_franchise: StrictBool = True
    send_franchise_id: StrictBool = True

    @field_validator("api_path")
    @classmethod
    def _slashes(cls, value: str) -> str:
        return "/" + value.strip("/") + "/"

    @field_validator("user_agent")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            # Vonigo's CDN (Cloudflare error 1010) blocks requests with an empty User-Agent.
            raise ValueError("must not be empty (Cloudflare blocks empty User-Agents)")
        return value.strip()

    @field_validator("app_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> str | None:
        return None if value == "" else str(value)


class ObjectSpec(ConfigModel):
    """One Vonigo object type pulled per franchise."""

    name: Identifier
    path: str
    list_keys: tuple[str, ...]
    object_type_id: StrictInt
    id_key: str = "objectID"
    method: str | None = None
    date_mode: StrictInt | None = None
    overlap: Duration | None = None
    lookahead: Duration = dt.timedelta(0)
    sort_mode: StrictInt | None = None
    sort_direction: StrictInt | None = None
    # Objects windowed on another date also list the run's window on the edited date
    # (dateMode 2, sorted by edited date), so an edit long after that date is still read.
    edited_sweep: StrictBool = False
    page_size: PositiveInt | None = None
    naive_local_dates: StrictBool = False
    local_time_fields: FieldIds = ()
    utc_time_fields: FieldIds = ()
    money_fields: FieldIds = ()
    own_franchise_only: StrictBool = False
    freshness: FreshnessThresholds = FreshnessThresholds()

    @field_validator("path", mode="before")
    @classmethod
    def _list_path(cls, value: Any) -> str:
        path = str(value).strip("/") + "/"
        if not path.lower().startswith(("data/", "resources/", "security/franchises")):
            raise ValueError(f"expected a data/... or resources/... path, got {path!r}")
        return path

    @field_validator("list_keys", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("method", mode="before")
    @classmethod
    def _list_method(cls, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) not in LIST_METHODS:
            # The extractor only lists; a write method code here could mutate Vonigo.
            raise ValueError(f"a list method is '0', '-1' or empty, got {value!r}")
        return str(value)

    @field_validator("date_mode")
    @classmethod
    def _known_date_mode(cls, value: int | None) -> int | None:
        if value is not None and value not in DATE_MODES:
            raise ValueError("expected 1 (created), 2 (edited) or 3 (service date)")
        return value


class TableNames(ConfigModel):
    """``target.tables``: the landing table names."""

    records: Identifier = "raw_records"
    fields: Identifier = "record_fields"
    relations: Identifier = "record_relations"
    field_dictionary: Identifier = "field_dictionary"
    field_options: Identifier = "field_options"


class LandingTables(PositionalModel):
    """Where the data lands in the warehouse (schema and table names)."""

    conn_id: Identifier = "redshift_dw"
    schema_: Identifier = Field(alias="schema")
    tables: TableNames = TableNames()

    @property
    def schema(self) -> str:  # type: ignore[override]  # shadows pydantic's deprecated BaseModel.schema()
        """The warehouse schema the landing tables are in."""
        return self.schema_

    @property
    def records(self) -> str:
        """The name of the records table."""
        return self.tables.records

    @property
    def fields(self) -> str:
        """The name of the record fields table."""
        return self.tables.fields

    @property
    def relations(self) -> str:
        """The name of the record relations table."""
        return self.tables.relations

    @property
    def field_dictionary(self) -> str:
        """The name of the field dictionary table."""
        return self.tables.field_dictionary

    @property
    def field_options(self) -> str:
        """The name of the field options table."""
        return self.tables.field_options


class FranchiseSettings(ConfigModel):
    """Which franchises are pulled, and the time zone their wall-clock dates are in."""

    ids: tuple[int, ...] | None = None  # None: every active franchise the API lists
    timezones: dict[int, str] = {}
    default_timezone: TimeZoneName | None = None
    max_parallel: PositiveInt = 4

    @field_validator("ids", mode="before")
    @classmethod
    def _all_or_listed(cls, value: Any) -> Any:
        if value == "all":
            return None
        if isinstance(value, list) and value and all(type(i) is int for i in value):
            return value
        raise ValueError(f"expected 'all' or a non-empty list of franchise ids, got {value!r}")

    @field_validator("timezones", mode="before")
    @classmethod
    def _zones_by_franchise(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        zones = {}
        for key, zone in value.items():
            try:
                franchise_id = int(key)
            except (TypeError, ValueError):
                raise problem(str(key), "keys are franchise ids (integers)") from None
            try:
                zones[franchise_id] = to_time_zone(zone)
            except ValueError as exc:
                raise problem(str(key), str(exc)) from None
        return zones


class Window(ConfigModel):
    """``window``: how far before the run's window each edited-date object is read."""

    overlap: Duration = dt.timedelta(hours=2)


class VonigoConfig(ConfigModel):
    """The whole ``vonigo.yaml``."""

    dag: Dag
    client: ClientSettings = Field(ClientSettings(), alias="source")
    franchises: FranchiseSettings = FranchiseSettings()
    target: LandingTables
    window: Window = Window()
    objects_: dict[str, ObjectSpec] = Field(alias="objects")
    _path: Path = PrivateAttr(default=Path())

    @field_validator("objects_", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("no objects configured")
        return {
            str(name): {**body, "name": str(name)} if isinstance(body, dict) else body or {"name": str(name)}
            for name, body in value.items()
        }

    @property
    def objects(self) -> tuple[ObjectSpec, ...]:
        """The configured objects, in file order."""
        return tuple(self.objects_.values())

    @property
    def overlap(self) -> dt.timedelta:
        """The default overlap of an object's window with the previous run's."""
        return self.window.overlap

    @property
    def path(self) -> Path:
        """The configuration file this configuration was read from."""
        return self._path

    def object(self, name: str) -> ObjectSpec:
        """The object named ``name`` (a KeyError when there is none)."""
        return self.objects_[name]


def load_vonigo_config(path: Path | None = None) -> VonigoConfig:
    """Load and validate the Vonigo configuration.

    Args:
        path: The file; default ``$BI_VONIGO_CONFIG``, else the committed one.

    Raises:
        ConfigError: naming the file and the key of any invalid or missing setting.
    """
    path = config_path(CONFIG_STEM, path)
    config = load_model(VonigoConfig, path, "Vonigo configuration", context={"dag_id": "extract_vonigo"})
    config._path = path
    return config
