"""Normalising Vonigo values and flattening records into warehouse rows."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from zoneinfo import ZoneInfo

import pytest

from bi_pipelines.core.values import parse_bool
from bi_pipelines.sources.vonigo.landing import (
    build_rows,
    dictionary_rows,
    epoch_to_utc,
    landing_tables,
    naive_local_epoch,
    naive_local_to_utc,
    parse_money,
)
from bi_pipelines.sources.vonigo.spec import LandingTables, ObjectSpec

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        (True, True),
        ("True", True),
        ("1", True),
        (1, True),
        ("false", False),
        (False, False),
        ("False", False),
        ("0", False),
        (None, None),
        ("", None),
        ("maybe", None),
    ],
)
def test_is_active_strings_and_booleans_are_normalised(value, expected):
    assert parse_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$1,234.50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("135.00", "135.00"),
        ("-50.0000", "-50.0000"),
        ("-$5.00", "-5.00"),
        ("$-5.00", "-5.00"),
        ("($5.00)", "-5.00"),
        (" $ 12 ", "12"),
        (".5", "0.5"),
        (7, "7"),
    ],
)
def test_money_strings_are_normalised(value, expected):
    assert parse_money(value) == decimal.Decimal(expected)


@pytest.mark.parametrize("value", [None, "", "n/a", "12abc", "$", True, "1.2.3"])
def test_money_that_is_not_money_is_null(value):
    assert parse_money(value) is None


def test_epochs_are_utc_and_empty_or_zero_is_null():
    assert epoch_to_utc("1736445600") == dt.datetime(2025, 1, 9, 18, tzinfo=dt.UTC)
    assert epoch_to_utc(1736445600) == dt.datetime(2025, 1, 9, 18, tzinfo=dt.UTC)
    assert epoch_to_utc("2025-01-09T18:00:00Z") == dt.datetime(2025, 1, 9, 18, tzinfo=dt.UTC)
    for empty in (None, "", "0", 0, "abc"):
        assert epoch_to_utc(empty) is None


def test_naive_local_work_order_dates_are_decoded_in_the_franchise_zone():
    # 09:00 wall clock in New York, written by Vonigo as if it were 09:00 UTC.
    naive = int((dt.datetime(2025, 1, 10, 9) - dt.datetime(1970, 1, 1)).total_seconds())
    assert naive_local_to_utc(str(naive), NEW_YORK) == dt.datetime(2025, 1, 10, 14, tzinfo=dt.UTC)
    # Summer time: the same wall clock is one hour earlier in UTC.
    summer = int((dt.datetime(2025, 7, 10, 9) - dt.datetime(1970, 1, 1)).total_seconds())
    assert naive_local_to_utc(summer, NEW_YORK) == dt.datetime(2025, 7, 10, 13, tzinfo=dt.UTC)


def test_naive_local_epoch_is_the_inverse_for_window_bounds():
    instant = dt.datetime(2025, 3, 9, 12, tzinfo=dt.UTC)  # the DST change day in New York
    assert naive_local_to_utc(naive_local_epoch(instant, NEW_YORK), NEW_YORK) == instant
    assert naive_local_epoch(instant, dt.UTC) == int(instant.timestamp())


WORK_ORDERS = ObjectSpec(
    name="workorders",
    path="data/WorkOrders/",
    list_keys=("WorkOrders",),
    object_type_id=12,
    date_mode=3,
    naive_local_dates=True,
    local_time_fields=(185,),
    money_fields=(813, 9835),
)


def _work_order(**overrides):
    record = {
        "objectID": "900001",
        "name": "Smith, Jane",
        "dateCreated": "1736100000",
        "dateLastEdited": "1736300000",
        "dateService": "1736445600",
        "isActive": "true",
        "Fields": [
            {"fieldID": 181, "fieldValue": "Open - Booked", "optionID": 161},
            {"fieldID": 185, "fieldValue": "1736445600", "optionID": 0},
            {"fieldID": 813, "fieldValue": "135.00", "optionID": 0},
            {"fieldID": 9835, "fieldValue": "$1,234.50", "optionID": 0},
            {"fieldID": 9835, "fieldValue": "$1,234.50", "optionID": 0},
        ],
        "Relations": [
            {
                "objectTypeID": 10,
                "objectID": 500001,
                "name": "500001",
                "relationType": "job",
                "isActive": True,
            },
            {
                "objectTypeID": 7,
                "objectID": 700001,
                "name": "Smith, Jane",
                "relationType": "client",
                "isActive": "false",
            },
        ],
    }
    record.update(overrides)
    return record


def test_build_rows_flattens_fields_and_relations_with_names_and_normalised_values():
    rows = build_rows(WORK_ORDERS, [_work_order()], 90, NEW_YORK, {(12, 181): "Status", (12, 9835): "Total"})
    tables = landing_tables(LandingTables("redshift_dw", "vonigo"))
    record = dict(zip(tables["records"].column_names, rows.records[0], strict=True))
    assert record["object_type"] == "workorders"
    assert record["object_id"] == "900001"
    assert record["franchise_id"] == 90
    assert record["is_active"] is True
    assert record["date_last_edited"] == dt.datetime.fromtimestamp(1736300000, dt.UTC)
    # 2025-01-09 18:00 wall clock in New York is 23:00 UTC.
    assert record["date_service"] == dt.datetime(2025, 1, 9, 23, tzinfo=dt.UTC)
    assert record["payload"]["Fields"][0]["fieldID"] == 181
    fields = {r[3]: dict(zip(tables["fields"].column_names, r, strict=True)) for r in rows.fields}
    assert sorted(fields) == [181, 185, 813, 9835]  # the repeated 9835 is one row
    assert fields[181]["field_name"] == "Status"
    assert fields[181]["option_id"] == 161
    assert fields[185]["field_name"] is None
    assert fields[185]["value_timestamp"] == dt.datetime(2025, 1, 9, 23, tzinfo=dt.UTC)
    assert fields[9835]["value_numeric"] == decimal.Decimal("1234.50")
    assert fields[813]["value_numeric"] == decimal.Decimal("135.00")
    assert fields[181]["value_numeric"] is None
    relations = {r[3]: r for r in rows.relations}
    assert relations["job"][4:8] == (10, "500001", "500001", True)
    assert relations["client"][7] is False
    assert rows.ids_without_fields == []
    assert rows.ids_without_relations == []


def test_records_without_fields_or_relations_are_listed_for_cleanup():
    rows = build_rows(WORK_ORDERS, [_work_order(Fields=[], Relations=None)], 90, NEW_YORK, {})
    assert rows.fields == []
    assert rows.ids_without_fields == ["900001"]
    assert rows.relations == []
    assert rows.ids_without_relations == ["900001"]


def test_dictionary_rows_from_system_objects():
    data = {
        "Fields": [
            {
                "fieldID": 181,
                "field": "Status",
                "fieldType": "tagSelect",
                "fieldMode": "S",
                "fieldBlock": "General",
                "isFieldRequired": "false",
            },
            {"fieldID": "185", "field": "Service Date", "fieldType": "tagDate", "isFieldRequired": True},
        ],
        "Options": [
            {"optionID": 161, "name": "Open - Booked", "fieldID": 181, "objectTypeID": 12, "isActive": "true"}
        ],
    }
    fields, options = dictionary_rows(12, "Work Order", data)
    assert fields[0] == (12, "Work Order", 181, "Status", "tagSelect", "S", "General", False)
    assert fields[1][2] == 185
    assert fields[1][-1] is True
    assert options == [(12, 181, 161, "Open - Booked", True)]


def test_naive_local_dates_at_dst_edges_are_read_as_standard_time():
    # Vancouver's 01:30 occurs twice on 2026-11-01, 02:30 never on 2026-03-08: both are PST, as the
    # relational extraction and PostgreSQL read them.
    vancouver = ZoneInfo("America/Vancouver")
    twice = int((dt.datetime(2026, 11, 1, 1, 30) - dt.datetime(1970, 1, 1)).total_seconds())
    never = int((dt.datetime(2026, 3, 8, 2, 30) - dt.datetime(1970, 1, 1)).total_seconds())
    assert naive_local_to_utc(twice, vancouver) == dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)
    assert naive_local_to_utc(never, vancouver) == dt.datetime(2026, 3, 8, 10, 30, tzinfo=dt.UTC)


def test_a_relation_without_its_object_type_is_skipped_counted_and_named(caplog):
    untyped = {"objectID": 3090, "name": "Route 90", "relationType": "route", "isActive": "true"}
    record = _work_order()
    record["Relations"] = [*record["Relations"], untyped]
    with caplog.at_level(logging.WARNING, logger="bi_pipelines.sources.vonigo.landing"):
        rows = build_rows(WORK_ORDERS, [record, _work_order(objectID="900002")], 90, NEW_YORK, {})
    assert sorted(r[3] for r in rows.relations) == ["client", "client", "job", "job"]
    assert rows.relations_skipped == 1
    assert "900001" in caplog.text
    assert "route" in caplog.text
    assert "objectTypeID" in caplog.text
    # The raw payload keeps it.
    assert untyped in rows.records[0][-1]["Relations"]
