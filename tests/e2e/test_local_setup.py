"""The choices ``make run`` and ``make demo`` make before Airflow starts: database names per
checkout, the metadata database, and what a failed start shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devtools import demo
from devtools.seeding import (
    DemoDatabase,
    checkout_tag,
    local_demo_names,
    main,
    metadata_database_name,
    postgres_server,
)


def test_two_checkouts_get_different_database_names():
    first, second = Path("/work/one"), Path("/work/two")
    assert checkout_tag(first) != checkout_tag(second)
    assert len(checkout_tag(first)) == 8
    names = local_demo_names({}, first)
    assert names == {key: f"bi_demo_{checkout_tag(first)}_{key}" for key in ("obe", "portal", "warehouse")}
    assert local_demo_names({}, second)["obe"] != names["obe"]
    assert metadata_database_name("", first) == f"airflow_meta_{checkout_tag(first)}"
    assert metadata_database_name("demo", first) == f"airflow_meta_{checkout_tag(first)}_demo"


def test_demo_database_names_can_be_overridden():
    names = local_demo_names({"DEMO_WAREHOUSE_DB": "my_warehouse"}, Path("/work/one"))
    assert names["warehouse"] == "my_warehouse"
    assert names["obe"].startswith("bi_demo_")


def test_sqlalchemy_url():
    db = DemoDatabase("postgres", "127.0.0.1", 5432, "postgres", "", "airflow_meta_x")
    assert db.sqlalchemy_url() == "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_meta_x"
    assert replace(db, password="p@ss/word").sqlalchemy_url() == (
        "postgresql+psycopg2://postgres:p%40ss%2Fword@127.0.0.1:5432/airflow_meta_x"
    )


def test_demo_falls_back_to_sqlite_when_postgres_does_not_answer(monkeypatch, capsys):
    nobody = DemoDatabase("postgres", "127.0.0.1", 9, "postgres", "", "")  # the discard port
    monkeypatch.delenv("BI_METADATA_DB", raising=False)
    assert demo.choose_metadata(nobody) is None
    assert "does not answer" in capsys.readouterr().out
    monkeypatch.setenv("BI_METADATA_DB", "postgres")
    with pytest.raises(SystemExit, match="does not answer"):
        demo.choose_metadata(nobody)
    monkeypatch.setenv("BI_METADATA_DB", "sqlite")
    assert demo.choose_metadata(postgres_server()) is None


def test_a_failed_start_shows_each_component_s_last_lines(tmp_path):
    log = tmp_path / "airflow.log"
    log.write_text(
        "Preparing the metadata database\n"
        + "".join(f"scheduler  | scheduler line {i}\n" for i in range(30))
        + "api-server | uvicorn starting\n"
        + "dag-processor | parsed 6 files\n"
    )
    text = demo.component_tails(log, lines=5)
    assert "scheduler line 29" in text
    assert "scheduler line 24" not in text
    assert "--- api-server" in text
    assert "uvicorn starting" in text
    assert "--- dag-processor" in text
    assert "--- run_airflow.sh" in text
    assert "Preparing the metadata database" in text


@pytest.mark.integration
def test_metadata_url_creates_the_database_once(capsys):
    database = replace(postgres_server(), name=metadata_database_name("test"))
    database.drop()
    try:
        assert main(["metadata-url", "--purpose", "test"]) == 0
        out = capsys.readouterr()
        assert out.out.strip() == database.sqlalchemy_url()
        assert f"created {database.name}" in out.err
        assert database.exists()
        assert main(["metadata-url", "--purpose", "test"]) == 0
        assert "created" not in capsys.readouterr().err  # already there: kept as it is
    finally:
        database.drop()
