"""``extract_vonigo`` end to end: the fake Vonigo -> the local PostgreSQL playing the warehouse."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
from pathlib import Path

import pytest
import yaml

from bi_pipelines.core.windows import Window
from bi_pipelines.sources.vonigo.client import VonigoUnavailable
from bi_pipelines.sources.vonigo.pipeline import extract_franchise, prepare
from bi_pipelines.sources.vonigo.spec import VONIGO_CONFIG, load_vonigo_config
from devtools.vonigo_fake import FAKE_PASSWORD, FAKE_USER, REFERENCE_EPOCH, VonigoFake, default_fixtures
from tests.support.dags import load_dag as load_dag_file

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
REF = dt.datetime.fromtimestamp(REFERENCE_EPOCH, dt.UTC)
WINDOW = Window(REF - dt.timedelta(hours=1), REF, "params")
TABLES = ("raw_records", "record_fields", "record_relations", "field_dictionary", "field_options")


@pytest.fixture
def fake():
    with VonigoFake() as server:
        yield server


@pytest.fixture
def vonigo(fake, pg_db, airflow_conn, tmp_path, monkeypatch):
    """Connections to the fake and the warehouse, and a config with test timings."""
    raw = yaml.safe_load(VONIGO_CONFIG.read_text(encoding="utf-8"))
    raw["source"].update(
        backoff_seconds=0.01, max_backoff_seconds=0.02, read_timeout=2, page_size=10, attempts=3
    )
    raw["franchises"]["timezones"] = {90: "America/New_York"}  # 91 falls back to Vonigo's offset
    path = tmp_path / "vonigo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("BI_VONIGO_CONFIG", str(path))
    airflow_conn(
        "vonigo_api",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": fake.port,
                "schema": "http",
                "login": FAKE_USER,
                "password": FAKE_PASSWORD,
                "extra": {"company": "Vonigo"},
            }
        ),
    )
    airflow_conn("redshift_dw", pg_db)
    return load_vonigo_config()


def snapshot(db) -> dict[str, list[tuple]]:
    return {t: db.query(f"SELECT * FROM vonigo.{t} ORDER BY 1, 2, 3, 4") for t in TABLES}


def naive_local(wall: dt.datetime) -> str:
    return str(int((wall - dt.datetime(1970, 1, 1)).total_seconds()))


def _assert_landing(db, fake):
    counts = dict(db.query("SELECT object_type, count(*) FROM vonigo.raw_records GROUP BY 1"))
    # Window [17:00, 18:00) widened by 2 h: clients edited i*10 min ago (every fifth 20 days ago);
    # work orders by service date from 7 days back to 60 days ahead; invoices issued in the last 25 h.
    assert counts == {
        "franchises": 2,
        "clients": 10 + 6,
        "contacts": 16,
        "locations": 16,
        "jobs": 12 + 7,
        "workorders": 21 + 8,
        "quotes": 8,
        "invoices": 8 + 4,
    }
    assert db.query("SELECT DISTINCT franchise_id FROM vonigo.raw_records ORDER BY 1") == [(90,), (91,)]
    newest = dict(db.query("SELECT object_type, max(date_last_edited) FROM vonigo.raw_records GROUP BY 1"))
    assert newest["clients"] == REF - dt.timedelta(minutes=10)
    # isActive strings and booleans land as booleans.
    assert db.query(
        "SELECT count(*) FROM vonigo.raw_records WHERE is_active IS NULL AND object_type <> 'franchises'"
    ) == [(0,)]
    assert {r[0] for r in db.query("SELECT DISTINCT is_active FROM vonigo.record_relations")} == {True, False}
    # Work-order service dates are franchise wall clock: 990004 is at 16:00 New York time two days
    # before the reference day (2025-01-07 16:00 EST = 21:00 UTC); 991004 at 16:00 with UTC-8.
    rows = dict(
        db.query(
            "SELECT object_id, date_service FROM vonigo.raw_records WHERE object_id IN ('990004', '991004')"
        )
    )
    assert rows["990004"] == dt.datetime(2025, 1, 7, 21, tzinfo=dt.UTC)
    assert rows["991004"] == dt.datetime(2025, 1, 8, 0, tzinfo=dt.UTC)
    service = db.query(
        "SELECT value, value_timestamp FROM vonigo.record_fields WHERE object_id = '990004' AND field_id = 185"
    )
    assert service == [(naive_local(dt.datetime(2025, 1, 7, 16)), dt.datetime(2025, 1, 7, 21, tzinfo=dt.UTC))]
    # Money strings ("$1,234.50", "-50.0000") are numbers; field ids have names.
    money = dict(
        db.query(
            "SELECT value, value_numeric FROM vonigo.record_fields WHERE object_type = 'invoices' AND field_id IN (709, 949)"
        )
    )
    assert money["$1,012.50"] == decimal.Decimal("1012.50")
    assert money["-50.0000"] == decimal.Decimal("-50")
    names = dict(
        db.query("SELECT field_id, field_name FROM vonigo.record_fields WHERE object_type = 'workorders'")
    )
    assert names[181] == "Status"
    assert names[9835] == "Total"
    assert names[185] == "Service Date"
    assert db.query("SELECT count(*) FROM vonigo.field_dictionary") == [(29,)]
    assert db.query("SELECT option_name FROM vonigo.field_options WHERE option_id = 164") == [("Completed",)]
    relation = db.query(
        "SELECT relation_type, related_object_type_id, related_object_id FROM vonigo.record_relations "
        "WHERE object_id = '990001' ORDER BY 1"
    )
    assert relation == [("client", 7, "790001"), ("job", 10, "590001"), ("route", 5, "3090")]
    payload = db.query(
        "SELECT payload -> 'Fields' -> 0 ->> 'fieldID' FROM vonigo.raw_records WHERE object_id = '990001'"
    )
    assert payload == [("181",)]


def _assert_vonigo_calls(fake, franchise_tasks: int):
    assert fake.writes == []
    logins = fake.calls("security/login")
    assert len(logins) == 1 + franchise_tasks
    logouts = [c for c in fake.calls("security/logout") if c["errNo"] == 0]
    assert len(logouts) == len(logins)
    tokens_by_franchise: dict[str, set] = {}
    for call in fake.calls("data/"):
        params = call["params"]
        assert params.get("method", "0") in ("0", "-1"), call
        if "dateStart" in params:
            assert params["dateMode"] in ("1", "2", "3"), call
        tokens_by_franchise.setdefault(params["franchiseID"], set()).add(params["securityToken"])
    assert set(tokens_by_franchise) == {"90", "91"}
    assert all(len(t) == 1 for t in tokens_by_franchise.values())
    assert tokens_by_franchise["90"].isdisjoint(tokens_by_franchise["91"])


def load_dag(monkeypatch):
    """A freshly parsed DAG (with the test config), whose failures fail now instead of retrying."""
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    return load_dag_file("extract_vonigo")


def test_extract_vonigo_dag_end_to_end_and_rerun_is_identical(airflow_db, vonigo, fake, pg_db, monkeypatch):
    dag = load_dag(monkeypatch)
    conf = {"window_start": WINDOW.start.isoformat(), "window_end": WINDOW.end.isoformat()}
    # Triggered without a logical date, like a run from the UI or the REST API.
    run = dag.test(logical_date=None, run_conf=conf)
    assert run.state == "success"
    _assert_landing(pg_db, fake)
    _assert_vonigo_calls(fake, franchise_tasks=2)
    first = snapshot(pg_db)

    fake.reset()
    run = dag.test(logical_date=None, run_conf=conf)
    assert run.state == "success"
    assert snapshot(pg_db) == first


def test_scheduled_run_uses_its_data_interval_and_one_franchise_param(
    airflow_db, fake, vonigo, pg_db, monkeypatch
):
    # Fixtures built around a time after the DAG's start date, so a logical-date run applies.
    logical = dt.datetime(2026, 11, 10, 12, 20, tzinfo=dt.UTC)
    fake.data = default_fixtures(reference=int(logical.timestamp()))
    dag = load_dag(monkeypatch)
    run = dag.test(logical_date=logical, run_conf={"franchise_ids": [91]})
    assert run.state == "success"
    assert pg_db.query("SELECT DISTINCT franchise_id FROM vonigo.raw_records") == [(91,)]
    clients = pg_db.query("SELECT count(*) FROM vonigo.raw_records WHERE object_type = 'clients'")[0][0]
    assert clients > 0
    start = int(fake.calls("data/clients")[0]["params"]["dateStart"])
    end = int(fake.calls("data/clients")[0]["params"]["dateEnd"])
    assert end - start == 3 * 3600  # an hourly interval plus the 2 h overlap


def test_edits_and_removed_fields_land_on_rerun(vonigo, fake, pg_db):
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    extract_franchise(vonigo, plan[90], WINDOW)
    before = pg_db.query("SELECT count(*) FROM vonigo.record_fields WHERE object_id = '990002'")[0][0]
    assert before == 6
    orders = {r["objectID"]: r for r in fake.records("WorkOrders")}
    orders["990002"]["Fields"] = [f for f in orders["990002"]["Fields"] if f["fieldID"] != 186]
    orders["990003"]["Fields"] = []
    orders["990003"]["Relations"] = []
    client = next(r for r in fake.records("Clients") if r["objectID"] == "790001")
    client["name"] = "Renamed client"
    client["isActive"] = "false"
    client["dateLastEdited"] = str(REFERENCE_EPOCH - 60)

    summary = extract_franchise(vonigo, plan[90], WINDOW)
    assert summary["objects"]["workorders"]["records"] == 21
    fields = pg_db.query("SELECT field_id FROM vonigo.record_fields WHERE object_id = '990002' ORDER BY 1")
    assert 186 not in [f for (f,) in fields]
    assert len(fields) == 5
    assert pg_db.query("SELECT count(*) FROM vonigo.record_fields WHERE object_id = '990003'") == [(0,)]
    assert pg_db.query("SELECT count(*) FROM vonigo.record_relations WHERE object_id = '990003'") == [(0,)]
    row = pg_db.query(
        "SELECT name, is_active, date_last_edited FROM vonigo.raw_records WHERE object_id = '790001'"
    )
    assert row == [("Renamed client", False, REF - dt.timedelta(minutes=1))]
    assert pg_db.query("SELECT count(*) FROM vonigo.raw_records WHERE object_id = '790001'") == [(1,)]


def test_a_token_expiring_mid_extraction_lands_every_record_once(vonigo, fake, pg_db):
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    fake.fail_next(mode="expire", path="data/workorders", skip=1)
    summary = extract_franchise(vonigo, plan[90], WINDOW)
    assert summary["api"]["relogins"] == 1
    assert summary["api"]["logins"] == 2
    assert summary["objects"]["workorders"] == {
        **summary["objects"]["workorders"],
        "records": 21,
        "duplicates": 0,
    }
    assert pg_db.query("SELECT count(*) FROM vonigo.raw_records WHERE object_type = 'workorders'") == [(21,)]
    # The first listing; the check pass and the edited-date listing follow it.
    assert [c["errNo"] for c in fake.calls("data/workorders")[:4]] == [0, -421, 0, 0]


def test_a_persistent_outage_fails_the_task_clearly_and_lands_nothing_partial(vonigo, fake, pg_db):
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    fake.fail_next(count=100, mode="522_html", path="data/jobs")
    with pytest.raises(VonigoUnavailable, match=r"^Vonigo unavailable: data/Jobs/ .* failed 3 times"):
        extract_franchise(vonigo, plan[90], WINDOW)
    assert pg_db.query("SELECT count(*) FROM vonigo.raw_records WHERE object_type = 'jobs'") == [(0,)]
    assert len(fake.calls("data/jobs")) == 3
    assert fake.calls("security/logout")[-1]["errNo"] == 0  # logged out in the finally


def test_parallel_tasks_writing_the_same_records_do_not_collide(vonigo, fake, pg_db):
    """An overlapping retry and a new run (or two franchises) publish the same keys at once."""
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(franchise_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            extract_franchise(vonigo, plan[franchise_id], WINDOW)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in (90, 90, 91, 90)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    counts = dict(pg_db.query("SELECT franchise_id, count(*) FROM vonigo.raw_records GROUP BY 1"))
    assert counts == {90: 76, 91: 42}
    assert pg_db.query(
        "SELECT count(*) FROM (SELECT object_type, object_id, field_id FROM vonigo.record_fields "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
    ) == [(0,)]
    # Four tasks, four sessions, every one logged out.
    assert len(fake.calls("security/login")) == 1 + 4
    assert sum(c["errNo"] == 0 for c in fake.calls("security/logout")) == 1 + 4


def _config_with(vonigo, tmp_path, **objects) -> object:
    """The test config with some object keys changed (e.g. a smaller page)."""
    raw = yaml.safe_load(vonigo.path.read_text(encoding="utf-8"))
    for name, changes in objects.items():
        raw["objects"][name].update(changes)
    path = tmp_path / "vonigo-changed.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_vonigo_config(path)


def test_a_record_edited_between_two_pages_loses_no_record(vonigo, fake, pg_db, tmp_path):
    config = _config_with(vonigo, tmp_path, clients={"page_size": 3})
    plan = {p["franchise_id"]: p for p in prepare(config)}
    fake.reset()
    fake.edit_between_pages("data/clients", after_page=1, move="out")
    summary = extract_franchise(config, plan[90], WINDOW)
    landed = pg_db.query("SELECT object_id FROM vonigo.raw_records WHERE object_type = 'clients' ORDER BY 1")
    assert [i for (i,) in landed] == sorted(str(790000 + i) for i in range(1, 13) if i % 5)
    clients = summary["objects"]["clients"]
    assert (clients["records"], clients["passes"], clients["recovered"]) == (10, 3, 1)
    assert clients["reread"] == 18


def test_an_invoice_and_a_work_order_edited_long_after_their_dates_are_landed(vonigo, fake, pg_db):
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    day = 86400
    invoice = next(r for r in fake.records("Invoices") if r["objectID"] == "220001")
    invoice.update(dateIssued=str(REFERENCE_EPOCH - 10 * day), dateCreated=str(REFERENCE_EPOCH - 10 * day))
    invoice["dateLastEdited"] = str(REFERENCE_EPOCH - 60)
    invoice["Fields"][0]["fieldValue"] = "$9,999.00"
    order = next(r for r in fake.records("WorkOrders") if r["objectID"] == "990001")
    service = naive_local(dt.datetime(2025, 1, 1, 10))  # eight days before the reference day
    order["dateService"] = service
    order["Fields"] = [*order["Fields"][:1], {"fieldID": 185, "fieldValue": service, "optionID": 0}]
    order["dateLastEdited"] = str(REFERENCE_EPOCH - 120)

    summary = extract_franchise(vonigo, plan[90], WINDOW)
    value = pg_db.query(
        "SELECT value_numeric FROM vonigo.record_fields WHERE object_id = '220001' AND field_id = 949"
    )
    assert value == [(decimal.Decimal("9999.00"),)]
    row = pg_db.query(
        "SELECT date_service, date_last_edited FROM vonigo.raw_records WHERE object_id = '990001'"
    )
    assert row == [(dt.datetime(2025, 1, 1, 15, tzinfo=dt.UTC), REF - dt.timedelta(minutes=2))]
    assert summary["objects"]["invoices"]["edited_only"] == 1
    assert summary["objects"]["workorders"]["edited_only"] == 1


def test_a_relation_without_object_type_does_not_fail_the_object(vonigo, fake, pg_db):
    plan = {p["franchise_id"]: p for p in prepare(vonigo)}
    order = next(r for r in fake.records("WorkOrders") if r["objectID"] == "990001")
    del order["Relations"][2]["objectTypeID"]  # the route, as some tenants send it
    summary = extract_franchise(vonigo, plan[90], WINDOW)
    assert summary["objects"]["workorders"]["relations_skipped"] == 1
    relations = pg_db.query(
        "SELECT relation_type FROM vonigo.record_relations WHERE object_id = '990001' ORDER BY 1"
    )
    assert relations == [("client",), ("job",)]
    assert pg_db.query("SELECT count(*) FROM vonigo.raw_records WHERE object_type = 'workorders'") == [(21,)]
