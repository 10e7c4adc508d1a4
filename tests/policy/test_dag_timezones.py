"""Each DAG's time zone is the one its ``dag:`` section names, as a named zone (not a fixed
offset), on the DAG, on its schedule and in the serialized DAG the api-server and scheduler read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.policy.test_dag_integrity import dagbag  # noqa: F401 - the DAG folder, parsed without I/O

CONFIG_DIR = Path(__file__).resolve().parents[2] / "include" / "bi_pipelines" / "config"


def configured_zones() -> dict[str, str]:
    zones = {}
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        section = (yaml.safe_load(path.read_text()) or {}).get("dag")
        if section:
            zones[section["dag_id"]] = section.get("timezone", "UTC")
    return zones


ZONES = configured_zones()


def test_the_vancouver_dag_is_configured_in_vancouver_time():
    assert ZONES["extract_redshift_dw"] == "America/Vancouver"


@pytest.mark.parametrize(("dag_id", "zone"), sorted(ZONES.items()))
def test_the_dag_timezone_is_the_configured_named_zone(dagbag, dag_id, zone):  # noqa: F811
    from airflow.serialization.serialized_objects import DagSerialization

    dag = dagbag.dags[dag_id]
    # DAG.timezone comes from start_date's tzinfo: a named zone, so daylight saving follows.
    assert dag.timezone.name == zone, f"{dag_id}: {dag.timezone!r}"
    assert str(dag.timetable.timezone) == zone, f"{dag_id}: {dag.timetable!r}"
    serialized = DagSerialization.to_dict(dag)
    assert serialized["dag"].get("timezone", "UTC") == zone
    assert DagSerialization.from_dict(serialized).timezone.name == zone
