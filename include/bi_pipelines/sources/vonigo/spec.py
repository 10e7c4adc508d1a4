"""``config/vonigo.yaml`` loaded into frozen dataclasses: the API client, the objects, the landing.

Every value that ``../shared/vonigo-api.md`` marks as assumed (date modes per object, sort
modes, page sizes, list keys, which fields hold money or franchise-local times) is a key here,
so a tenant that behaves differently is a config change, not a code change.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.core.settings import (
    CONFIG_DIR,
    Dag,
    FreshnessThresholds,
    Section,
    parse_dag,
    parse_duration,
    parse_thresholds,
    parse_timezone,
    read_config,
)
from bi_pipelines.db.identifiers import validate_identifier

VONIGO_CONFIG = CONFIG_DIR / "vonigo.yaml"
# Tests and demos point the DAG at another file without editing the committed one.
CONFIG_PATH_ENV = "BI_VONIGO_CONFIG"

DATE_MODES = {1: "created", 2: "edited", 3: "service"}
LIST_METHODS = ("", "0", "-1")


@dataclass(frozen=True)
class ClientSettings:
    """How the client talks to Vonigo (transport, retries, paging)."""

    conn_id: str = "vonigo_api"
    api_path: str = "/api/v1/"
    user_agent: str = "bi-pipelines-vonigo-extractor/1.0 (Apache Airflow; BI team)"
    app_version: str | None = "1"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    attempts: int = 5
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0
    jitter: float = 0.25
    page_size: int = 200
    max_pages: int = 200
    switch_franchise: bool = True
    send_franchise_id: bool = True


@dataclass(frozen=True)
class ObjectSpec:
    """One Vonigo object type pulled per franchise."""

    name: str
    path: str
    list_keys: tuple[str, ...]
    object_type_id: int
    id_key: str = "objectID"
    method: str | None = None
    date_mode: int | None = None
    overlap: dt.timedelta | None = None
    lookahead: dt.timedelta = dt.timedelta(0)
    sort_mode: int | None = None
    sort_direction: int | None = None
    page_size: int | None = None
    naive_local_dates: bool = False
    local_time_fields: tuple[int, ...] = ()
    utc_time_fields: tuple[int, ...] = ()
    money_fields: tuple[int, ...] = ()
    own_franchise_only: bool = False
    freshness: FreshnessThresholds = field(default_factory=FreshnessThresholds)


@dataclass(frozen=True)
class LandingTables:
    """Where the data lands in the warehouse (schema and table names)."""

    conn_id: str
    schema: str
    records: str = "raw_records"
    fields: str = "record_fields"
    relations: str = "record_relations"
    field_dictionary: str = "field_dictionary"
    field_options: str = "field_options"


@dataclass(frozen=True)
class FranchiseSettings:
    """Which franchises are pulled, and the time zone their wall-clock dates are in."""

    ids: tuple[int, ...] | None  # None: every active franchise the API lists
    timezones: dict[int, str]
    default_timezone: str | None
    max_parallel: int


@dataclass(frozen=True)
class VonigoConfig:
    dag: Dag
    client: ClientSettings
    franchises: FranchiseSettings
    target: LandingTables
    overlap: dt.timedelta
    objects: tuple[ObjectSpec, ...]
    path: Path

    def object(self, name: str) -> ObjectSpec:
        for spec in self.objects:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _seconds(s: Section, key: str, default: float) -> float:
    value = s.get(key, default, types=(int, float))
    if value < 0:
        raise ConfigError(f"{s.at(key)}: must not be negative, got {value}")
    return float(value)


def _positive_int(s: Section, key: str, default: int | None) -> int | None:
    value = s.get(key, default, types=(int,))
    if value is not None and value < 1:
        raise ConfigError(f"{s.at(key)}: must be at least 1, got {value}")
    return value


def _int_list(s: Section, key: str) -> tuple[int, ...]:
    values = s.get(key, [], types=(list,))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{s.at(key)}: expected a list of field ids (integers), got {values!r}")
    return tuple(values)


def _client(s: Section) -> ClientSettings:
    s.check_keys(set(ClientSettings.__dataclass_fields__))
    d = ClientSettings()
    api_path = "/" + str(s.get("api_path", d.api_path)).strip("/") + "/"
    user_agent = str(s.get("user_agent", d.user_agent)).strip()
    if not user_agent:
        # Vonigo's CDN (Cloudflare error 1010) blocks requests with an empty User-Agent.
        raise ConfigError(f"{s.at('user_agent')}: must not be empty (Cloudflare blocks empty User-Agents)")
    app_version = s.get("app_version", d.app_version)
    return ClientSettings(
        conn_id=validate_identifier(s.get("conn_id", d.conn_id), s.at("conn_id")),
        api_path=api_path,
        user_agent=user_agent,
        app_version=None if app_version in (None, "") else str(app_version),
        connect_timeout=_seconds(s, "connect_timeout", d.connect_timeout),
        read_timeout=_seconds(s, "read_timeout", d.read_timeout),
        attempts=_positive_int(s, "attempts", d.attempts),
        backoff_seconds=_seconds(s, "backoff_seconds", d.backoff_seconds),
        max_backoff_seconds=_seconds(s, "max_backoff_seconds", d.max_backoff_seconds),
        jitter=_seconds(s, "jitter", d.jitter),
        page_size=_positive_int(s, "page_size", d.page_size),
        max_pages=_positive_int(s, "max_pages", d.max_pages),
        switch_franchise=s.get("switch_franchise", d.switch_franchise, types=(bool,)),
        send_franchise_id=s.get("send_franchise_id", d.send_franchise_id, types=(bool,)),
    )


def _franchises(s: Section) -> FranchiseSettings:
    s.check_keys({"ids", "timezones", "default_timezone", "max_parallel"})
    raw_ids = s.get("ids", "all")
    if raw_ids == "all":
        ids = None
    elif isinstance(raw_ids, list) and raw_ids and all(isinstance(i, int) for i in raw_ids):
        ids = tuple(raw_ids)
    else:
        raise ConfigError(
            f"{s.at('ids')}: expected 'all' or a non-empty list of franchise ids, got {raw_ids!r}"
        )
    zones = s.section("timezones")
    timezones = {}
    for key, zone in zones.data.items():
        try:
            franchise_id = int(key)
        except (TypeError, ValueError):
            raise ConfigError(f"{zones.at(str(key))}: keys are franchise ids (integers)") from None
        timezones[franchise_id] = parse_timezone(zone, zones.at(str(key)))
    default = s.get("default_timezone")
    return FranchiseSettings(
        ids=ids,
        timezones=timezones,
        default_timezone=parse_timezone(default, s.at("default_timezone")) if default else None,
        max_parallel=_positive_int(s, "max_parallel", 4),
    )


def _target(s: Section) -> LandingTables:
    s.check_keys({"conn_id", "schema", "tables"})
    tables = s.section("tables")
    tables.check_keys({"records", "fields", "relations", "field_dictionary", "field_options"})
    names = {k: validate_identifier(v, tables.at(k)) for k, v in tables.data.items()}
    return LandingTables(
        conn_id=validate_identifier(s.get("conn_id", "redshift_dw"), s.at("conn_id")),
        schema=validate_identifier(s.get("schema", required=True), s.at("schema")),
        **names,
    )


_OBJECT_KEYS = {
    "path",
    "list_keys",
    "object_type_id",
    "id_key",
    "method",
    "date_mode",
    "overlap",
    "lookahead",
    "sort_mode",
    "sort_direction",
    "page_size",
    "naive_local_dates",
    "local_time_fields",
    "utc_time_fields",
    "money_fields",
    "own_franchise_only",
    "freshness",
}


def _object(name: str, s: Section) -> ObjectSpec:
    s.check_keys(_OBJECT_KEYS)
    validate_identifier(name, s.where)
    path = str(s.get("path", required=True)).strip("/") + "/"
    if not path.lower().startswith(("data/", "resources/", "security/franchises")):
        raise ConfigError(f"{s.at('path')}: expected a data/... or resources/... path, got {path!r}")
    list_keys = s.get("list_keys", required=True, types=(list, str))
    list_keys = (list_keys,) if isinstance(list_keys, str) else tuple(str(k) for k in list_keys)
    method = s.get("method", types=(str, int))
    method = None if method is None else str(method)
    if method is not None and method not in LIST_METHODS:
        # The extractor only lists; a write method code here could mutate Vonigo.
        raise ConfigError(f"{s.at('method')}: a list method is '0', '-1' or empty, got {method!r}")
    date_mode = s.get("date_mode", types=(int,))
    if date_mode is not None and date_mode not in DATE_MODES:
        raise ConfigError(f"{s.at('date_mode')}: expected 1 (created), 2 (edited) or 3 (service date)")
    overlap = s.get("overlap")
    lookahead = s.get("lookahead")
    fresh = s.section("freshness")
    fresh.check_keys({"warn_after", "error_after", "check_interval", "active"})
    return ObjectSpec(
        name=name,
        path=path,
        list_keys=list_keys,
        object_type_id=s.get("object_type_id", required=True, types=(int,)),
        id_key=str(s.get("id_key", "objectID")),
        method=method,
        date_mode=date_mode,
        overlap=parse_duration(overlap, s.at("overlap")) if overlap is not None else None,
        lookahead=parse_duration(lookahead, s.at("lookahead")) if lookahead is not None else dt.timedelta(0),
        sort_mode=s.get("sort_mode", types=(int,)),
        sort_direction=s.get("sort_direction", types=(int,)),
        page_size=_positive_int(s, "page_size", None),
        naive_local_dates=s.get("naive_local_dates", False, types=(bool,)),
        local_time_fields=_int_list(s, "local_time_fields"),
        utc_time_fields=_int_list(s, "utc_time_fields"),
        money_fields=_int_list(s, "money_fields"),
        own_franchise_only=s.get("own_franchise_only", False, types=(bool,)),
        freshness=parse_thresholds(fresh),
    )


def config_path() -> Path:
    """The Vonigo config in use: ``$BI_VONIGO_CONFIG`` or ``config/vonigo.yaml``."""
    return Path(os.environ.get(CONFIG_PATH_ENV) or VONIGO_CONFIG)


def load_vonigo_config(path: Path | None = None) -> VonigoConfig:
    """Load and validate the Vonigo configuration.

    Raises:
        ConfigError: naming the file and the key of any invalid or missing setting.
    """
    path = Path(path or config_path())
    root = read_config(
        path, "Vonigo configuration", {"dag", "source", "franchises", "target", "window", "objects"}
    )
    window = root.section("window")
    window.check_keys({"overlap"})
    objects_section = root.section("objects", required=True)
    objects = tuple(
        _object(str(name), Section(body or {}, objects_section.at(str(name))))
        for name, body in objects_section.data.items()
    )
    if not objects:
        raise ConfigError(f"{objects_section.where}: no objects configured")
    return VonigoConfig(
        dag=parse_dag(root.section("dag", required=True), "extract_vonigo"),
        client=_client(root.section("source")),
        franchises=_franchises(root.section("franchises")),
        target=_target(root.section("target", required=True)),
        overlap=parse_duration(window.get("overlap", "2h"), window.at("overlap")),
        objects=objects,
        path=path,
    )
