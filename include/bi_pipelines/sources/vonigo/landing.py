"""Vonigo records -> warehouse rows: raw JSON, flattened fields and relations, field dictionary.

Vonigo's values need normalising before they are useful in SQL:

- ``isActive`` arrives as ``"true"``, ``true``, ``"False"`` or ``"1"`` in the same payload.
- Money arrives as strings, sometimes formatted (``"$1,234.50"``, ``"-50.0000"``).
- Dates are epoch-second strings. Work-order dates (``dateService``, field 185) are the
  franchise's *wall clock* encoded as if it were UTC ("naive local"); they are decoded in the
  franchise's zone. ``dateCreated``/``dateLastEdited`` are taken as true epochs (unverified;
  the windows overlap to absorb an offset).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bi_pipelines.core.timezones import local_to_utc
from bi_pipelines.core.values import parse_bool
from bi_pipelines.db.rows import RowStream, iter_batches
from bi_pipelines.load.publish import LoadResult, Merge, ReplacePartitions
from bi_pipelines.load.tables import Column, TargetTable
from bi_pipelines.load.warehouse import Warehouse
from bi_pipelines.sources.vonigo.spec import LandingTables, ObjectSpec

log = logging.getLogger(__name__)

_MONEY = re.compile(r"^(-)?\(?\s*(-)?\s*\$?\s*(-)?([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*\)?$")


def parse_money(value: Any) -> decimal.Decimal | None:
    """``"$1,234.50"`` -> 1234.50, ``"-50.0000"`` -> -50, ``"($5.00)"`` -> -5; None if not money."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value))
    text = str(value).strip()
    match = _MONEY.match(text)
    if not match:
        return None
    negative = bool(match.group(1) or match.group(2) or match.group(3)) or (
        text.startswith("(") and text.endswith(")")
    )
    amount = decimal.Decimal(match.group(4).replace(",", ""))
    return -amount if negative else amount


def _epoch(value: Any) -> dt.datetime | None:
    """An epoch-seconds value (string or number) as a naive UTC wall time; None when empty/zero."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text or not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return None
    seconds = float(text)
    if seconds <= 0:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)


def epoch_to_utc(value: Any) -> dt.datetime | None:
    """A true epoch (or an ISO 8601 string with a zone) as an aware UTC datetime."""
    naive = _epoch(value)
    if naive is not None:
        return naive.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return None


def naive_local_to_utc(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """A "naive local" epoch (franchise wall clock encoded as UTC) as an aware UTC datetime.

    The wall clock is read by :func:`~bi_pipelines.core.timezones.local_to_utc` (standard time
    at DST edges, as everywhere else).
    """
    naive = _epoch(value)
    if naive is None:
        return None
    return local_to_utc(naive, zone)


def naive_local_epoch(instant: dt.datetime, zone: dt.tzinfo) -> int:
    """The inverse: an instant as the franchise's wall clock written as a UTC epoch.

    Used for ``dateMode=3`` bounds, which Vonigo compares with the naive-local service dates.
    """
    wall = instant.astimezone(zone).replace(tzinfo=None)
    return int((wall - dt.datetime(1970, 1, 1)).total_seconds())


# -- tables --------------------------------------------------------------------------------------
RECORD_KEY = ("object_type", "object_id")


def landing_tables(t: LandingTables) -> dict[str, TargetTable]:
    """The warehouse tables of the Vonigo landing, by role."""
    text, key = "text", (Column("object_type", "text"), Column("object_id", "text"))
    return {
        "records": TargetTable(
            t.schema,
            t.records,
            (
                *key,
                Column("franchise_id", "bigint"),
                Column("object_type_id", "integer"),
                Column("name", text),
                Column("is_active", "boolean"),
                Column("date_created", "timestamptz"),
                Column("date_last_edited", "timestamptz"),
                Column("date_service", "timestamptz"),
                Column("payload", "jsonb"),
            ),
            RECORD_KEY,
        ),
        "fields": TargetTable(
            t.schema,
            t.fields,
            (
                *key,
                Column("franchise_id", "bigint"),
                Column("field_id", "integer"),
                Column("field_name", text),
                Column("value", text),
                Column("option_id", "bigint"),
                Column("value_numeric", "numeric"),
                Column("value_timestamp", "timestamptz"),
            ),
            (*RECORD_KEY, "field_id"),
        ),
        "relations": TargetTable(
            t.schema,
            t.relations,
            (
                *key,
                Column("franchise_id", "bigint"),
                Column("relation_type", text),
                Column("related_object_type_id", "integer"),
                Column("related_object_id", text),
                Column("related_name", text),
                Column("is_active", "boolean"),
            ),
            (*RECORD_KEY, "relation_type", "related_object_type_id", "related_object_id"),
        ),
        "field_dictionary": TargetTable(
            t.schema,
            t.field_dictionary,
            (
                Column("object_type_id", "integer"),
                Column("object_name", text),
                Column("field_id", "integer"),
                Column("field_name", text),
                Column("field_type", text),
                Column("field_mode", text),
                Column("field_block", text),
                Column("is_required", "boolean"),
            ),
            ("object_type_id", "field_id"),
        ),
        "field_options": TargetTable(
            t.schema,
            t.field_options,
            (
                Column("object_type_id", "integer"),
                Column("field_id", "integer"),
                Column("option_id", "bigint"),
                Column("option_name", text),
                Column("is_active", "boolean"),
            ),
            ("object_type_id", "field_id", "option_id"),
        ),
    }


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# -- rows ------------------------------------------------------------------------------------------
@dataclass
class ObjectRows:
    """Warehouse rows of one object type for one franchise, ready to load."""

    records: list[tuple]
    fields: list[tuple]
    relations: list[tuple]
    ids_without_fields: list[str]
    ids_without_relations: list[str]
    relations_skipped: int = 0


def build_rows(
    spec: ObjectSpec,
    records: Iterable[dict],
    franchise_id: int,
    zone: dt.tzinfo,
    field_names: dict[tuple[int, int], str],
) -> ObjectRows:
    """Flatten Vonigo records into raw, field and relation rows (columns of :func:`landing_tables`)."""
    out = ObjectRows([], [], [], [], [])
    local_fields, utc_fields, money_fields = (
        set(spec.local_time_fields),
        set(spec.utc_time_fields),
        set(spec.money_fields),
    )
    for record in records:
        object_id = str(record[spec.id_key])
        key = (spec.name, object_id)
        service = record.get("dateService")
        out.records.append(
            (
                *key,
                franchise_id,
                spec.object_type_id,
                record.get("name") or record.get("franchiseName") or record.get("title"),
                parse_bool(record.get("isActive")),
                epoch_to_utc(record.get("dateCreated")),
                epoch_to_utc(record.get("dateLastEdited")),
                naive_local_to_utc(service, zone) if spec.naive_local_dates else epoch_to_utc(service),
                record,
            )
        )
        fields: dict[int, tuple] = {}
        for f in record.get("Fields") or []:
            field_id = _int(f.get("fieldID")) if isinstance(f, dict) else None
            if field_id is None:
                continue
            value = f.get("fieldValue")
            value = None if value is None else str(value)
            if field_id in local_fields:
                stamp = naive_local_to_utc(value, zone)
            elif field_id in utc_fields:
                stamp = epoch_to_utc(value)
            else:
                stamp = None
            fields[field_id] = (
                *key,
                franchise_id,
                field_id,
                field_names.get((spec.object_type_id, field_id)),
                value,
                _int(f.get("optionID")),
                parse_money(value) if field_id in money_fields else None,
                stamp,
            )
        out.fields.extend(fields.values())
        if not fields:
            out.ids_without_fields.append(object_id)
        relations: dict[tuple, tuple] = {}
        for r in record.get("Relations") or []:
            if not isinstance(r, dict):
                continue
            type_id, related_id = _int(r.get("objectTypeID")), r.get("objectID")
            if type_id is None or related_id in (None, ""):
                # Both are part of record_relations' key, which cannot hold a NULL: skip the
                # relation (counted, named) rather than fail the object; the payload keeps it.
                out.relations_skipped += 1
                log.warning(
                    "%s %s: relation %r (%s) has no objectTypeID or objectID; not landed in the "
                    "relations table (it stays in raw_records.payload)",
                    spec.name,
                    object_id,
                    r.get("relationType"),
                    r.get("name"),
                )
                continue
            rel_key = (str(r.get("relationType") or ""), type_id, str(related_id))
            relations[rel_key] = (*key, franchise_id, *rel_key, r.get("name"), parse_bool(r.get("isActive")))
        out.relations.extend(relations.values())
        if not relations:
            out.ids_without_relations.append(object_id)
    return out


def dictionary_rows(object_type_id: int, object_name: str, data: dict) -> tuple[list[tuple], list[tuple]]:
    """Rows of ``field_dictionary`` and ``field_options`` from a ``system/objects/`` method=1 answer."""
    fields = {}
    for f in data.get("Fields") or []:
        field_id = _int(f.get("fieldID"))
        if field_id is not None:
            fields[field_id] = (
                object_type_id,
                object_name,
                field_id,
                f.get("field") or f.get("name"),
                f.get("fieldType"),
                f.get("fieldMode"),
                f.get("fieldBlock"),
                parse_bool(f.get("isFieldRequired")),
            )
    options = {}
    for o in data.get("Options") or []:
        field_id, option_id = _int(o.get("fieldID")), _int(o.get("optionID"))
        if field_id is not None and option_id is not None:
            options[(field_id, option_id)] = (
                object_type_id,
                field_id,
                option_id,
                o.get("name"),
                parse_bool(o.get("isActive")),
            )
    return list(fields.values()), list(options.values())


# -- loading ---------------------------------------------------------------------------------------
def _stream(target: TargetTable, rows: Sequence[tuple]) -> RowStream:
    return RowStream(target.column_names, batches=lambda: iter([list(rows)]))


def _delete_ids(wh: Warehouse, target: TargetTable, object_type: str, ids: Sequence[str]) -> Callable:
    """Remove the rows of records that now have no fields (or relations) at all.

    A partition replace only touches records that stage at least one row, so a record whose last
    field was removed would keep its old fields without this. The returned function is a
    ``before_publish`` hook: ``Warehouse.load`` runs it with its cursor, in the load's transaction
    and under its publish lock (the franchise tasks publish into the same tables).
    """

    def run(cur) -> None:
        table = wh.qualified(target.schema, target.table)
        for chunk in iter_batches(ids, 500):
            placeholders = ", ".join(["%s"] * len(chunk))
            cur.execute(
                f"DELETE FROM {table} WHERE {wh.q('object_type')} = %s AND {wh.q('object_id')} IN ({placeholders})",
                [object_type, *chunk],
            )

    return run


def land_object(
    wh: Warehouse, tables: dict[str, TargetTable], spec: ObjectSpec, rows: ObjectRows
) -> dict[str, LoadResult]:
    """Publish one object's rows: fields and relations first, the raw records last.

    The raw table carries ``date_last_edited`` that the freshness monitor reads, so it only
    advances once the flattened tables of the same records have landed. Each table is one
    transaction (staging + publish); a rerun of the window repairs a partial failure.
    """
    if not rows.records:
        return {}
    fields, relations, records = tables["fields"], tables["relations"], tables["records"]
    results = {
        "fields": wh.load(
            fields,
            _stream(fields, rows.fields),
            ReplacePartitions(RECORD_KEY),
            before_publish=_delete_ids(wh, fields, spec.name, rows.ids_without_fields),
        ),
        "relations": wh.load(
            relations,
            _stream(relations, rows.relations),
            ReplacePartitions(RECORD_KEY),
            before_publish=_delete_ids(wh, relations, spec.name, rows.ids_without_relations),
        ),
        "records": wh.load(
            records,
            _stream(records, rows.records),
            Merge(RECORD_KEY),
        ),
    }
    return results


def land_dictionary(
    wh: Warehouse, tables: dict[str, TargetTable], fields: list[tuple], options: list[tuple]
) -> dict[str, LoadResult]:
    """Replace the dictionary of every object type present in ``fields``/``options``."""
    results = {}
    for role, rows in (("field_dictionary", fields), ("field_options", options)):
        if rows:
            target = tables[role]
            results[role] = wh.load(
                target,
                _stream(target, rows),
                ReplacePartitions(("object_type_id",)),
            )
    return results


def read_field_names(wh: Warehouse, tables: dict[str, TargetTable]) -> dict[tuple[int, int], str]:
    """``{(object_type_id, field_id): field name}`` from the landed field dictionary."""
    target = tables["field_dictionary"]
    rows = wh.query(
        f"SELECT {wh.q('object_type_id')}, {wh.q('field_id')}, {wh.q('field_name')} "
        f"FROM {wh.qualified(target.schema, target.table)}"
    )
    return {(int(t), int(f)): n for t, f, n in rows}
