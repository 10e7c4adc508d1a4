"""The two steps of ``extract_vonigo``: prepare, then one extraction per franchise.

Preparing creates the tables and reads the field dictionary and the franchises. Plain arguments
in, small summaries out; no Airflow imports here except through the connection lookups of the
client and the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from bi_pipelines.core.errors import ExtractionError
from bi_pipelines.core.values import parse_bool
from bi_pipelines.core.windows import Window
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.vonigo.client import PageResult, VonigoClient, keep_newest, list_items
from bi_pipelines.sources.vonigo.landing import (
    build_rows,
    dictionary_rows,
    land_dictionary,
    land_object,
    landing_tables,
    naive_local_epoch,
    read_field_names,
)
from bi_pipelines.sources.vonigo.spec import EDITED, ObjectSpec, VonigoConfig

log = logging.getLogger(__name__)


def _client(config: VonigoConfig, **kwargs: Any) -> VonigoClient:
    return VonigoClient.from_connection(config.client, **kwargs)


def list_franchises(client: VonigoClient, config: VonigoConfig) -> list[dict]:
    """Every franchise ``resources/franchises/`` lists (the path of the ``franchises`` object)."""
    try:
        spec = config.object("franchises")
        path, keys, method = spec.path, spec.list_keys, spec.method
    except KeyError:
        path, keys, method = "resources/franchises/", ("Franchises",), "0"
    params = {"method": method} if method is not None else {}
    return client.fetch_all(path, params, list_keys=keys, id_key="franchiseID").records


def resolve_franchises(
    config: VonigoConfig, listed: list[dict], requested: list[int] | None = None
) -> list[dict[str, Any]]:
    """The franchises to extract, each with the zone its wall-clock dates are in.

    Args:
        config: The Vonigo config (``franchises.ids``, ``timezones``, ``default_timezone``).
        listed: The franchises Vonigo lists (for ``ids: all`` and the ``gmtOffsetFranchise`` fallback).
        requested: Ids given for this run (the ``franchise_ids`` param), overriding the config.

    Raises:
        ExtractionError: when a requested or configured id is not a franchise Vonigo knows.
    """
    by_id = {int(f["franchiseID"]): f for f in listed if str(f.get("franchiseID", "")).lstrip("-").isdigit()}
    if requested:
        ids = [int(i) for i in requested]
    elif config.franchises.ids is not None:
        ids = list(config.franchises.ids)
    else:
        ids = sorted(i for i, f in by_id.items() if parse_bool(f.get("isActive")) is not False)
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ExtractionError(
            f"franchise id(s) {unknown} are not listed by Vonigo ({sorted(by_id)} are); fix franchises.ids "
            f"in {config.path.name} or the franchise_ids param"
        )
    plan = []
    for franchise_id in ids:
        offset = by_id[franchise_id].get("gmtOffsetFranchise")
        plan.append(
            {
                "franchise_id": franchise_id,
                "name": by_id[franchise_id].get("franchiseName"),
                "timezone": config.franchises.timezones.get(franchise_id)
                or config.franchises.default_timezone,
                "gmt_offset_minutes": int(str(offset)) if str(offset or "").lstrip("-").isdigit() else None,
            }
        )
    return plan


def franchise_zone(franchise: dict[str, Any]) -> dt.tzinfo:
    """The franchise's zone: its configured IANA zone, else Vonigo's fixed ``gmtOffsetFranchise``."""
    if franchise.get("timezone"):
        return ZoneInfo(franchise["timezone"])
    offset = franchise.get("gmt_offset_minutes")
    if offset is None:
        raise ExtractionError(
            f"franchise {franchise['franchise_id']} has no time zone: add it under franchises.timezones "
            "in config/vonigo.yaml (e.g. 90: America/New_York)"
        )
    log.warning(
        "franchise %s has no IANA zone in config/vonigo.yaml; using Vonigo's fixed offset %+d min, which "
        "is wrong for half the year where daylight saving applies",
        franchise["franchise_id"],
        offset,
    )
    return dt.timezone(dt.timedelta(minutes=offset))


def prepare(config: VonigoConfig, requested_franchises: list[int] | None = None) -> list[dict[str, Any]]:
    """Create the landing tables, refresh the field dictionary, and plan the franchises.

    The tables are created here, before the parallel franchise tasks, because concurrent
    ``CREATE TABLE IF NOT EXISTS`` can still collide on PostgreSQL.

    Returns:
        One dict per franchise to extract (``franchise_id``, ``name``, ``timezone``,
        ``gmt_offset_minutes``), the input of the mapped franchise tasks.
    """
    tables = landing_tables(config.target)
    started = time.monotonic()
    with Warehouse.connect(config.target.conn_id) as wh:
        for target in tables.values():
            wh.ensure_table(target)
        with _client(config) as client:
            objects = client.request("system/objects/", {})
            names = {
                int(o["objectTypeID"]): str(o.get("name"))
                for o in list_items(objects, ("Objects",))
                if str(o.get("objectTypeID", "")).isdigit()
            }
            fields: list[tuple] = []
            options: list[tuple] = []
            for spec in config.objects:
                data = client.request("system/objects/", {"method": "1", "objectID": spec.object_type_id})
                f_rows, o_rows = dictionary_rows(
                    spec.object_type_id, names.get(spec.object_type_id, spec.name), data
                )
                fields += f_rows
                options += o_rows
            listed = list_franchises(client, config)
        land_dictionary(wh, tables, fields, options)
    plan = resolve_franchises(config, listed, requested_franchises)
    log.info(
        "field dictionary: %d fields, %d options for %d object types; franchises to extract: %s (%.2f s)",
        len(fields),
        len(options),
        len(config.objects),
        ", ".join(f"{p['franchise_id']} {p['name']}" for p in plan),
        time.monotonic() - started,
    )
    return plan


def object_window(spec: ObjectSpec, window: Window, default_overlap: dt.timedelta) -> Window:
    """The window an object is read with: widened by its overlap, pushed ahead by its lookahead."""
    widened = window.widened(spec.overlap if spec.overlap is not None else default_overlap)
    return type(window)(widened.start, widened.end + spec.lookahead, window.origin)


def object_params(
    spec: ObjectSpec, window: Window, franchise_id: int, zone: dt.tzinfo, config: VonigoConfig
) -> dict[str, Any]:
    """The list parameters of one object for one franchise and window."""
    params: dict[str, Any] = {}
    if spec.method is not None:
        params["method"] = spec.method
    if spec.date_mode is not None:
        w = object_window(spec, window, config.overlap)
        if spec.naive_local_dates:
            start, end = naive_local_epoch(w.start, zone), naive_local_epoch(w.end, zone)
        else:
            start, end = int(w.start.timestamp()), int(w.end.timestamp())
        # Without dateMode Vonigo silently ignores dateStart/dateEnd and returns everything.
        params.update({"dateMode": spec.date_mode, "dateStart": start, "dateEnd": end})
    if spec.sort_mode is not None:
        params["sortMode"] = spec.sort_mode
    if spec.sort_direction is not None:
        params["sortDirection"] = spec.sort_direction
    if not spec.own_franchise_only:
        params["isCompleteObject"] = True
        if config.client.send_franchise_id:
            params["franchiseID"] = franchise_id
    return params


def edited_spec(spec: ObjectSpec) -> ObjectSpec:
    """The object listed on its edited date (``dateMode 2``, true epochs, oldest edit first).

    The window is the run's, widened by ``window.overlap`` like every edited-date object: edits
    form a contiguous series across runs, so each edit falls in some run's window.
    """
    return spec.model_copy(
        update={
            "date_mode": EDITED,
            "overlap": None,
            "lookahead": dt.timedelta(0),
            "naive_local_dates": False,
            "sort_mode": 3,
            "sort_direction": 0,
        }
    )


def fetch_object(
    client: VonigoClient,
    spec: ObjectSpec,
    window: Window,
    franchise_id: int,
    zone: dt.tzinfo,
    config: VonigoConfig,
) -> tuple[PageResult, int]:
    """Every record of one object for the window: its own listing, then its edited-date sweep.

    Returns:
        The merged result (newest copy of each record) and how many records only the
        edited-date sweep found.
    """

    def fetch(listed: ObjectSpec) -> PageResult:
        params = object_params(listed, window, franchise_id, zone, config)
        return client.fetch_stable(
            spec.path, params, list_keys=spec.list_keys, id_key=spec.id_key, page_size=spec.page_size
        )

    result = fetch(spec)
    edited_only = 0
    if spec.edited_sweep and spec.date_mode != EDITED:
        sweep = edited_spec(spec)
        extra = fetch(sweep)
        kept = {str(r[spec.id_key]): r for r in result.records}
        for record in extra.records:
            edited_only += keep_newest(kept, record, str(record[spec.id_key]))
        result.records = list(kept.values())
        result.pages += extra.pages
        result.duplicates += extra.duplicates
        result.passes += extra.passes
        result.reread += extra.reread
        result.recovered += extra.recovered
    return result, edited_only


def extract_franchise(config: VonigoConfig, franchise: dict[str, Any], window: Window) -> dict[str, Any]:
    """Pull every configured object of one franchise for ``window`` and land it.

    One client (one login, one token) per call, logged out in a ``finally``; the token is never
    shared with another franchise's task. The client only reads.

    Returns:
        ``{"franchise_id", "window", "objects": {name: {"pages", "records", "duplicates",
        "seconds", "fields", "relations", "passes", "reread", "recovered", "edited_only",
        "relations_skipped"}}}``: ``passes``/``reread``/``recovered`` count the re-listings that
        guard against edits during paging, ``edited_only`` the records only the edited-date
        sweep found, ``relations_skipped`` the relations without a type or id.
    """
    franchise_id = int(franchise["franchise_id"])
    zone = franchise_zone(franchise)
    tables = landing_tables(config.target)
    summary: dict[str, Any] = {"franchise_id": franchise_id, "window": str(window), "objects": {}}
    log.info("franchise %s (%s): window %s, zone %s", franchise_id, franchise.get("name"), window, zone)
    with Warehouse.connect(config.target.conn_id) as wh, _client(config) as client:
        for target in tables.values():
            wh.ensure_table(target)
        field_names = read_field_names(wh, tables)
        if config.client.switch_franchise:
            client.switch_franchise(franchise_id)
        for spec in config.objects:
            started = time.monotonic()
            fetched, edited_only = fetch_object(client, spec, window, franchise_id, zone, config)
            records = fetched.records
            if spec.own_franchise_only:
                records = [r for r in records if str(r.get(spec.id_key)) == str(franchise_id)]
            rows = build_rows(spec, records, franchise_id, zone, field_names)
            loaded = land_object(wh, tables, spec, rows)
            seconds = time.monotonic() - started
            summary["objects"][spec.name] = {
                "pages": fetched.pages,
                "records": len(records),
                "duplicates": fetched.duplicates,
                "seconds": round(seconds, 3),
                "fields": len(rows.fields),
                "relations": len(rows.relations),
                "passes": fetched.passes,
                "reread": fetched.reread,
                "recovered": fetched.recovered,
                "edited_only": edited_only,
                "relations_skipped": rows.relations_skipped,
            }
            log.info(
                "franchise %s %-10s %3d page(s) %6d record(s) %4d duplicate(s) %d pass(es) %d re-read "
                "%d recovered %d edited-only %7.2f s  %s",
                franchise_id,
                spec.name,
                fetched.pages,
                len(records),
                fetched.duplicates,
                fetched.passes,
                fetched.reread,
                fetched.recovered,
                edited_only,
                seconds,
                "; ".join(r.summary() for r in loaded.values()) or "nothing to land",
            )
        summary["api"] = dict(client.stats)
    total = sum(o["records"] for o in summary["objects"].values())
    log.info(
        "franchise %s: %d record(s) in %d object type(s); API %s",
        franchise_id,
        total,
        len(config.objects),
        summary["api"],
    )
    return summary
