"""config/vonigo.yaml, the per-object request parameters and windows, the franchise plan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bi_pipelines.core.errors import ConfigError, ExtractionError
from bi_pipelines.core.windows import Window
from bi_pipelines.sources.vonigo.landing import naive_local_to_utc
from bi_pipelines.sources.vonigo.pipeline import (
    franchise_zone,
    object_params,
    object_window,
    resolve_franchises,
)
from bi_pipelines.sources.vonigo.spec import VONIGO_CONFIG, load_vonigo_config

WINDOW = Window(
    dt.datetime(2025, 1, 9, 17, tzinfo=dt.UTC), dt.datetime(2025, 1, 9, 18, tzinfo=dt.UTC), "params"
)


def _variant(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(VONIGO_CONFIG.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "vonigo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_committed_config_loads_with_the_required_objects():
    config = load_vonigo_config()
    names = [o.name for o in config.objects]
    assert names == [
        "franchises",
        "clients",
        "contacts",
        "locations",
        "jobs",
        "workorders",
        "quotes",
        "invoices",
    ]
    assert config.dag.dag_id == "extract_vonigo"
    assert config.dag.retries >= 2
    assert config.dag.start_date.tzinfo is not None
    assert config.client.conn_id == "vonigo_api"
    assert config.target.conn_id == "redshift_dw"
    assert config.object("workorders").date_mode == 3
    assert config.object("workorders").lookahead > dt.timedelta(0)
    assert config.object("quotes").lookahead > dt.timedelta(0)
    assert config.object("invoices").date_mode == 1
    assert config.object("invoices").method == "0"
    assert config.object("jobs").list_keys[0] == "Job"
    # Every object that has a date filter sends a dateMode (none is silently unfiltered).
    assert all(o.date_mode for o in config.objects if o.name != "franchises")


def test_config_path_can_be_overridden_by_environment(tmp_path, monkeypatch):
    path = _variant(tmp_path, lambda raw: raw["source"].update(page_size=7))
    monkeypatch.setenv("BI_VONIGO_CONFIG", str(path))
    assert load_vonigo_config().client.page_size == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["objects"]["clients"].update(method="3"), "objects.clients.method"),
        (lambda r: r["objects"]["clients"].update(date_mode=5), "objects.clients.date_mode"),
        (lambda r: r["objects"]["clients"].update(list_key="Clients"), "unknown key(s) list_key"),
        (lambda r: r["source"].update(user_agent=" "), "source.user_agent"),
        (lambda r: r["source"].update(attempts=0), "source.attempts"),
        (lambda r: r["franchises"].update(ids=[]), "franchises.ids"),
        (lambda r: r["franchises"].update(timezones={90: "Mars/Olympus"}), "franchises.timezones.90"),
        (lambda r: r["target"].update(schema="bad name"), "target.schema"),
        (lambda r: r["objects"]["jobs"].update(path="jobs/"), "objects.jobs.path"),
        (
            lambda r: r["objects"]["workorders"].update(money_fields=["813"]),
            "objects.workorders.money_fields",
        ),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_vonigo_config(_variant(tmp_path, change))
    assert "vonigo.yaml" in str(info.value)


def test_every_dated_object_sends_date_mode_with_its_dates():
    config = load_vonigo_config()
    zone = ZoneInfo("America/New_York")
    for spec in config.objects:
        params = object_params(spec, WINDOW, 90, zone, config)
        if "dateStart" in params or "dateEnd" in params:
            assert params["dateMode"] == spec.date_mode
        assert "method" not in params or params["method"] in ("0", "-1", "")


def test_edited_date_windows_overlap_the_previous_run():
    config = load_vonigo_config()
    params = object_params(config.object("clients"), WINDOW, 90, ZoneInfo("America/New_York"), config)
    assert params["dateMode"] == 2
    assert params["dateStart"] == int((WINDOW.start - config.overlap).timestamp())
    assert params["dateEnd"] == int(WINDOW.end.timestamp())
    assert params["franchiseID"] == 90
    assert params["isCompleteObject"] is True


def test_service_date_windows_look_back_and_ahead_in_franchise_wall_clock():
    config = load_vonigo_config()
    spec = config.object("workorders")
    zone = ZoneInfo("America/New_York")
    window = object_window(spec, WINDOW, config.overlap)
    assert window.start == WINDOW.start - spec.overlap
    assert window.end == WINDOW.end + spec.lookahead
    params = object_params(spec, WINDOW, 90, zone, config)
    assert params["dateMode"] == 3
    # The bounds are naive-local like the service dates they are compared with.
    assert naive_local_to_utc(params["dateStart"], zone) == window.start
    assert naive_local_to_utc(params["dateEnd"], zone) == window.end
    assert params["dateStart"] == int(window.start.timestamp()) - 5 * 3600


def test_franchise_object_is_unfiltered_and_kept_to_the_own_franchise():
    config = load_vonigo_config()
    params = object_params(config.object("franchises"), WINDOW, 90, dt.UTC, config)
    assert "dateMode" not in params
    assert "franchiseID" not in params


LISTED = [
    {"franchiseID": 90, "franchiseName": "North", "gmtOffsetFranchise": -300, "isActive": "true"},
    {"franchiseID": "91", "franchiseName": "West", "gmtOffsetFranchise": "-480", "isActive": True},
    {"franchiseID": 92, "franchiseName": "Closed", "gmtOffsetFranchise": -300, "isActive": "false"},
]


def test_all_franchises_means_the_active_ones(tmp_path):
    config = load_vonigo_config(
        _variant(tmp_path, lambda r: r["franchises"].update(timezones={90: "America/New_York"}))
    )
    plan = resolve_franchises(config, LISTED)
    assert [p["franchise_id"] for p in plan] == [90, 91]
    assert plan[0]["timezone"] == "America/New_York"
    assert plan[1]["timezone"] is None
    assert plan[1]["gmt_offset_minutes"] == -480
    json.dumps(plan)  # it travels through XCom


def test_requested_and_configured_franchises(tmp_path):
    config = load_vonigo_config(_variant(tmp_path, lambda r: r["franchises"].update(ids=[91])))
    assert [p["franchise_id"] for p in resolve_franchises(config, LISTED)] == [91]
    assert [p["franchise_id"] for p in resolve_franchises(config, LISTED, [92])] == [92]
    with pytest.raises(ExtractionError, match=r"\[93\] are not listed by Vonigo"):
        resolve_franchises(config, LISTED, [93])


def test_franchise_zone_prefers_the_configured_zone():
    assert franchise_zone({"franchise_id": 90, "timezone": "America/New_York"}) == ZoneInfo(
        "America/New_York"
    )
    fixed = franchise_zone({"franchise_id": 91, "timezone": None, "gmt_offset_minutes": -480})
    assert fixed.utcoffset(None) == dt.timedelta(hours=-8)
    with pytest.raises(ExtractionError, match=r"franchises\.timezones"):
        franchise_zone({"franchise_id": 93, "timezone": None, "gmt_offset_minutes": None})


def test_the_environment_variable_follows_the_file_name():
    from bi_pipelines.sources.vonigo.spec import CONFIG_PATH_ENV

    assert CONFIG_PATH_ENV == "BI_VONIGO_CONFIG"


def test_landing_tables_keep_their_flat_names():
    target = load_vonigo_config().target
    assert (target.schema, target.records, target.field_options) == ("vonigo", "raw_records", "field_options")
