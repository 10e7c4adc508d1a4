"""The Freshness page's API against a real PostgreSQL monitoring database, with Airflow's JWTs.

The monitor itself fills the results table (``run_checks``); the API is called through FastAPI's
TestClient with tokens of the simple auth manager, as the UI sends them (bearer header or the
``_token`` cookie).
"""

from __future__ import annotations

import datetime as dt
import secrets
import textwrap

import pytest

from bi_pipelines.freshness.acknowledgements import active_acknowledgements, with_acknowledgements
from bi_pipelines.freshness.dashboard import Asset
from bi_pipelines.freshness.monitor import run_checks
from bi_pipelines.freshness.spec import load_config
from bi_pipelines.freshness.ui.app import Backend, create_app
from bi_pipelines.load.warehouse import Warehouse

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(minutes=5)
STALE = "src:public.stale"
FRESH = "src:public.fresh"
ACKS = "monitoring.freshness_acknowledgements"
# One secret for the module: Airflow caches its token signer and validator per process.
JWT_SECRET = secrets.token_urlsafe(64)


@pytest.fixture
def config(pg_db, pg_db2, airflow_conn, tmp_path):
    pg_db.execute(
        "CREATE TABLE fresh (ts timestamptz)",
        "CREATE TABLE stale (ts timestamptz)",
        "INSERT INTO fresh VALUES (%s)",
        params=(T0 - dt.timedelta(minutes=10),),
    )
    pg_db.execute("INSERT INTO stale VALUES (%s)", params=(T0 - dt.timedelta(hours=5),))
    airflow_conn("src", pg_db)
    airflow_conn("mon", pg_db2)
    path = tmp_path / "freshness.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            dag:
              schedule: "*/15 * * * *"
              start_date: "2026-11-01T00:00:00"
            monitoring: {conn_id: mon}
            sweep: {connect_attempts: 1, connect_backoff_seconds: 0}
            flows: {include: false}
            defaults: {warn_after: 1h, error_after: 3h, check_interval: 15m}
            tables:
              fresh: {conn_id: src, schema: public, column: ts}
              stale: {conn_id: src, schema: public, column: ts}
              quiet: {conn_id: src, schema: public, table: fresh, column: ts, filter: "ts < now()"}
            """
        ),
        encoding="utf-8",
    )
    return load_config(path)


def run(config, run_id: str, at: dt.datetime, *, with_db_acks: bool = False):
    """One monitor run at ``at``; with ``with_db_acks``, the page's acknowledgements merged in
    (what the monitor's wiring does: one call before the run's rows and summary are made)."""
    if with_db_acks:
        with Warehouse.connect(config.monitoring.conn_id) as wh:
            config = with_acknowledgements(config, active_acknowledgements(wh, config.monitoring, at))
    return run_checks(config, run_id=run_id, checked_at=at, clock=lambda: at)[0]


@pytest.fixture
def auth(monkeypatch, airflow_db):
    """Tokens of the simple auth manager, signed with a secret of this test."""
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setattr(airflow_app._AuthManagerState, "instance", None)
    manager = airflow_app.create_auth_manager()

    def token(name: str, role: str) -> str:
        return manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))

    return token


@pytest.fixture
def client(config, auth):
    from fastapi.testclient import TestClient

    run(config, "scheduled__1", T0)
    backend = Backend(
        load=lambda: config,
        clock=lambda: NOW,
        asset_id=lambda uri: 42 if uri == "x-bi-warehouse://dw/raw/stale" else None,
        assets=lambda: {STALE: Asset("dw:raw.stale", "x-bi-warehouse://dw/raw/stale")},
    )
    with TestClient(create_app(backend)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ack(client, token, key=STALE, until="2026-11-30", reason="source frozen for the migration"):
    return client.post(
        "/api/acknowledgements",
        json={"table_key": key, "reason": reason, "until": until},
        headers=bearer(token),
    )


def test_anonymous_and_invalid_credentials_are_refused(client):
    for path in ("/", "/static/app.js", "/api/tables", f"/api/history?table={STALE}"):
        assert client.get(path).status_code == 401, path
    assert client.get("/api/tables", headers=bearer("not-a-jwt")).status_code == 403
    answer = client.post(
        "/api/acknowledgements", json={"table_key": STALE, "reason": "x", "until": "2026-11-30"}
    )
    assert answer.status_code == 401
    assert client.post("/api/acknowledgements/revoke", json={"table_key": STALE}).status_code == 401


def test_a_viewer_reads_everything_but_cannot_acknowledge(client, auth):
    viewer = auth("vera", "viewer")
    page = client.get("/", headers=bearer(viewer))
    assert page.status_code == 200
    assert "Source freshness" in page.text
    assert client.get("/static/app.js", headers=bearer(viewer)).status_code == 200
    assert client.get("/static/../app.py", headers=bearer(viewer)).status_code == 404

    body = client.get("/api/tables", headers=bearer(viewer)).json()
    assert body["user"] == "vera"
    assert body["can_acknowledge"] is False
    assert body["timezone"] == "America/Vancouver"
    statuses = {t["table_key"]: t["status"] for t in body["tables"]}
    assert statuses == {FRESH: "pass", STALE: "error", "src:public.fresh#quiet": "pass"}
    stale = next(t for t in body["tables"] if t["table_key"] == STALE)
    assert stale["lag_seconds"] == 5 * 3600
    assert stale["error_after_seconds"] == 3 * 3600
    assert stale["server_host"] == "127.0.0.1"
    assert stale["asset"]["uri"] == "x-bi-warehouse://dw/raw/stale"

    # The filtered key has a '#': passed as a query parameter it needs no special route.
    history = client.get("/api/history", params={"table": STALE, "days": 30}, headers=bearer(viewer)).json()
    assert [r["status"] for r in history["rows"]] == ["error"]
    assert history["asset"] == {
        "name": "dw:raw.stale",
        "uri": "x-bi-warehouse://dw/raw/stale",
        "id": 42,
        "path": "/assets/42",
    }
    assert (
        client.get("/api/history", params={"table": "src:public.fresh#quiet"}, headers=bearer(viewer)).json()[
            "asset"
        ]
        is None
    )

    assert ack(client, viewer).status_code == 403
    assert (
        client.post(
            "/api/acknowledgements/revoke", json={"table_key": STALE}, headers=bearer(viewer)
        ).status_code
        == 403
    )
    with Warehouse.connect("mon") as wh:
        assert not wh.existing_columns("monitoring", "freshness_acknowledgements")


def test_unknown_keys_and_ranges_are_refused_without_reaching_sql(client, auth):
    admin = auth("ada", "admin")
    injection = "src:public.stale'; DROP TABLE monitoring.source_table_freshness; --"
    assert client.get("/api/history", params={"table": injection}, headers=bearer(admin)).status_code == 404
    assert (
        client.get("/api/history", params={"table": STALE, "days": 5}, headers=bearer(admin)).status_code
        == 422
    )
    assert ack(client, admin, key=injection).status_code == 404
    assert ack(client, admin, until="2026-10-01").status_code == 422  # in the past
    assert ack(client, admin, until="next friday").status_code == 422
    assert ack(client, admin, reason="   ").status_code == 422
    # A cross-site HTML form can only send form or text bodies: the cookie alone cannot acknowledge.
    client.cookies.set("_token", admin)
    form = client.post(
        "/api/acknowledgements",
        content=f'{{"table_key": "{STALE}", "reason": "x", "until": "2026-11-30"}}',
        headers={"Content-Type": "text/plain"},
    )
    client.cookies.clear()
    assert form.status_code == 422
    with Warehouse.connect("mon") as wh:
        assert wh.query("SELECT count(*) FROM monitoring.source_table_freshness") == [(3,)]


def test_an_editor_acknowledges_and_withdraws_and_the_history_is_kept(client, auth, pg_db2):
    admin, user = auth("ada", "admin"), auth("uma", "user")
    client.cookies.set("_token", user)  # the UI's own credential: the session cookie
    assert client.get("/api/tables").json()["can_acknowledge"] is True
    client.cookies.clear()

    answer = ack(client, user)
    assert answer.status_code == 201, answer.text
    assert answer.json()["acknowledged_by"] == "uma"
    assert answer.json()["until"] == "2026-12-01T00:00:00+00:00"  # the whole of the 30th, UTC

    tables = {t["table_key"]: t for t in client.get("/api/tables", headers=bearer(admin)).json()["tables"]}
    assert tables[STALE]["acknowledged"]["reason"] == "source frozen for the migration"
    assert tables[STALE]["acknowledged"]["source"] == "page"
    assert tables[FRESH]["acknowledged"] is None

    # A second acknowledgement replaces the first; withdrawing ends it; every row stays.
    assert (
        ack(client, admin, until="2026-11-10T08:00:00", reason="until the vendor fixes it").status_code == 201
    )
    revoked = client.post("/api/acknowledgements/revoke", json={"table_key": STALE}, headers=bearer(admin))
    assert revoked.json() == {"table_key": STALE, "revoked": 1}
    rows = pg_db2.query(
        f"SELECT reason, until, acknowledged_by, acknowledged_at, revoked_by, revoked_at FROM {ACKS} "
        "ORDER BY reason DESC"
    )
    assert rows == [
        ("until the vendor fixes it", dt.datetime(2026, 11, 10, 8, tzinfo=dt.UTC), "ada", NOW, "ada", NOW),
        ("source frozen for the migration", dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "uma", NOW, "ada", NOW),
    ]
    history = client.get("/api/history", params={"table": STALE}, headers=bearer(admin)).json()
    assert sorted((a["reason"], a["revoked_by"]) for a in history["acknowledgements"]) == [
        ("source frozen for the migration", "ada"),
        ("until the vendor fixes it", "ada"),
    ]
    tables = {t["table_key"]: t for t in client.get("/api/tables", headers=bearer(admin)).json()["tables"]}
    assert tables[STALE]["acknowledged"] is None


def test_an_acknowledgement_from_the_page_turns_the_next_run_green(client, auth, config):
    at = T0 + dt.timedelta(minutes=15)
    before = run(config, "scheduled__2", at, with_db_acks=True)
    assert [f["table_key"] for f in before.failing] == [STALE]  # nothing acknowledged: red

    assert ack(client, auth("uma", "user")).status_code == 201
    after = run(config, "scheduled__3", at + dt.timedelta(minutes=15), with_db_acks=True)
    assert after.failing == []
    assert [(a["table_key"], a["status"]) for a in after.acknowledged] == [(STALE, "error")]
    assert after.acknowledged[0]["acknowledgement"] == "source frozen for the migration (acknowledged by uma)"
    with Warehouse.connect("mon") as wh:
        row = wh.query(
            "SELECT status, acknowledged_until, acknowledgement FROM monitoring.source_table_freshness_latest "
            "WHERE table_key = %s",
            (STALE,),
        )
    assert row == [
        ("error", dt.datetime(2026, 12, 1, tzinfo=dt.UTC), after.acknowledged[0]["acknowledgement"])
    ]

    # Withdrawn: the run after is red again.
    client.post(
        "/api/acknowledgements/revoke", json={"table_key": STALE}, headers=bearer(auth("ada", "admin"))
    )
    again = run(config, "scheduled__4", at + dt.timedelta(minutes=30), with_db_acks=True)
    assert [f["table_key"] for f in again.failing] == [STALE]
