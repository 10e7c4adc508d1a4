"""The Freshness page's FastAPI app: a static page and the JSON API it reads and writes.

The app is mounted by the api-server (``plugins/freshness_ui.py``), so a request carries the
same credential as the rest of the UI: the ``_token`` cookie the UI holds, or an
``Authorization: Bearer`` header. Airflow's own ``get_user`` dependency resolves it (401 without
a credential, 403 for an invalid one), and the auth manager decides what the user may do:

- reading needs read access to the freshness monitor's DAG (every role, ``viewer`` included);
- acknowledging needs edit access to that DAG (``is_authorized_dag(method="PUT")``: with the
  simple auth manager the ``user``, ``op`` and ``admin`` roles).

Table keys from a request are only compared with the configured checks and passed to queries
as parameters, never written into SQL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.freshness import acknowledgements as acks
from bi_pipelines.freshness import dashboard
from bi_pipelines.freshness.spec import Acknowledgement, FreshnessConfig, load_config
from bi_pipelines.load.warehouse import Warehouse

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
CONFIG_TTL_SECONDS = 60.0
UNPROCESSABLE = 422  # (starlette renamed the constant; the number is the contract)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _airflow_asset_id(uri: str) -> int | None:
    """The id of the asset with ``uri`` in Airflow's metadata database (the asset page's address)."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(AssetModel.id).where(AssetModel.uri == uri))


class Backend:
    """What the app reads from: the configuration (reloaded every minute), the warehouse, a clock.

    Args:
        load: Loads the freshness configuration (``load_config`` by default).
        connect: Opens the monitoring warehouse from a connection id.
        clock: "Now", UTC.
        asset_id: Looks an asset URI up in Airflow (``None`` when Airflow does not know it).
        assets: Check key -> warehouse asset; default from the extraction flows.
    """

    def __init__(
        self,
        load: Callable[[], FreshnessConfig] = load_config,
        connect: Callable[[str], Warehouse] = Warehouse.connect,
        clock: Callable[[], dt.datetime] = _now,
        asset_id: Callable[[str], int | None] = _airflow_asset_id,
        assets: Callable[[], dict[str, dashboard.Asset]] = dashboard.flow_assets,
    ):
        self._load, self._connect, self.clock = load, connect, clock
        self._asset_id, self._assets = asset_id, assets
        self._lock = threading.Lock()
        self._cached: tuple[float, FreshnessConfig, dict[str, dashboard.Asset]] | None = None

    def config(self) -> tuple[FreshnessConfig, dict[str, dashboard.Asset]]:
        """The freshness configuration and the warehouse assets, re-read at most once a minute."""
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CONFIG_TTL_SECONDS:
                config = self._load()
                try:
                    assets = self._assets()
                except ConfigError:
                    assets = {}
                self._cached = (time.monotonic(), config, assets)
            return self._cached[1], self._cached[2]

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        """A connection to the monitoring database for one request, closed afterwards."""
        wh = self._connect(self.config()[0].monitoring.conn_id)
        try:
            yield wh
        finally:
            wh.close()

    def asset_id(self, uri: str) -> int | None:
        """The Airflow asset id of ``uri`` for a link, or None when it cannot be looked up."""
        try:
            return self._asset_id(uri)
        except Exception:  # the link is a convenience: no metadata database, no link
            return None


class AcknowledgeBody(BaseModel):
    """The body of an acknowledgement: which table, why, until when."""

    table_key: str = Field(min_length=1, max_length=1024)
    reason: str = Field(min_length=1, max_length=acks.MAX_REASON)
    until: str = Field(min_length=10, max_length=40, description="YYYY-MM-DD (the whole day, UTC) or ISO")


class RevokeBody(BaseModel):
    """The body of a withdrawal: which table."""

    table_key: str = Field(min_length=1, max_length=1024)


def _authorizer(backend: Backend, method: ResourceMethod) -> Callable[..., Any]:
    """A dependency: the authenticated user, allowed ``method`` on the monitor's DAG, else 403."""

    def allowed(user: GetUserDep) -> Any:
        dag_id = backend.config()[0].dag.dag_id
        if not get_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=dag_id), user=user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
        return user

    return allowed


def _may_edit(backend: Backend, user: Any) -> bool:
    dag_id = backend.config()[0].dag.dag_id
    return get_auth_manager().is_authorized_dag(method="PUT", details=DagDetails(id=dag_id), user=user)


def _known(config: FreshnessConfig, key: str) -> str:
    if key not in {c.key for c in config.checks}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{key!r} is not a monitored table key")
    return key


def create_app(backend: Backend | None = None) -> FastAPI:
    """The Freshness app; ``backend`` replaces the configuration and the warehouse (tests)."""
    backend = backend or Backend()
    reader = Depends(_authorizer(backend, "GET"))
    editor = Depends(_authorizer(backend, "PUT"))
    app = FastAPI(title="Source freshness", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index(user: Any = reader) -> FileResponse:
        return FileResponse(
            STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"}
        )

    @app.get("/static/{name}")
    def static(name: str, user: Any = reader) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
        return FileResponse(
            STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    @app.get("/api/tables")
    def tables(user: Any = reader) -> dict[str, Any]:
        config, assets = backend.config()
        at = backend.clock()
        with backend.warehouse() as wh:
            rows = dashboard.overview(wh, config, at, assets)
        return {
            "now": at.isoformat(),
            "timezone": dashboard.team_timezone(),
            "user": user.get_name(),
            "can_acknowledge": _may_edit(backend, user),
            "dag_id": config.dag.dag_id,
            "tables": rows,
        }

    @app.get("/api/history")
    def history(
        table: Annotated[str, Query(min_length=1, max_length=1024)],
        days: Annotated[int, Query()] = 7,
        user: Any = reader,
    ) -> dict[str, Any]:
        if days not in dashboard.HISTORY_DAYS:
            raise HTTPException(UNPROCESSABLE, f"days must be one of {dashboard.HISTORY_DAYS}")
        config, assets = backend.config()
        key = _known(config, table)
        at = backend.clock()
        with backend.warehouse() as wh:
            rows = dashboard.history(wh, config, key, at - dt.timedelta(days=days))
            ack_history = [r.to_dict() for r in acks.records(wh, config.monitoring, key)]
        asset = assets.get(key)
        asset_view = None
        if asset is not None:
            asset_id = backend.asset_id(asset.uri)
            asset_view = {
                "name": asset.name,
                "uri": asset.uri,
                "id": asset_id,
                "path": f"/assets/{asset_id}" if asset_id is not None else None,
            }
        return {
            "table_key": key,
            "days": days,
            "rows": rows,
            "changes": dashboard.status_changes(rows),
            "acknowledgements": ack_history,
            "asset": asset_view,
        }

    @app.post("/api/acknowledgements", status_code=status.HTTP_201_CREATED)
    def acknowledge(body: AcknowledgeBody, user: Any = editor) -> dict[str, Any]:
        config, _ = backend.config()
        key = _known(config, body.table_key)
        try:
            # The YAML's rules for `until`: a date is the whole day (UTC), a date-time is exact.
            until = Acknowledgement.model_validate(
                {"table": key, "until": body.until, "reason": body.reason}
            ).until
        except ValidationError as exc:
            raise HTTPException(UNPROCESSABLE, exc.errors()[0]["msg"]) from None
        with backend.warehouse() as wh:
            try:
                record = acks.acknowledge(
                    wh,
                    config.monitoring,
                    table_key=key,
                    reason=body.reason,
                    until=until,
                    by=user.get_name(),
                    at=backend.clock(),
                )
            except ConfigError as exc:
                raise HTTPException(UNPROCESSABLE, str(exc)) from None
        return record.to_dict()

    @app.post("/api/acknowledgements/revoke")
    def revoke(body: RevokeBody, user: Any = editor) -> dict[str, Any]:
        config, _ = backend.config()
        key = _known(config, body.table_key)
        with backend.warehouse() as wh:
            count = acks.revoke(wh, config.monitoring, table_key=key, by=user.get_name(), at=backend.clock())
        return {"table_key": key, "revoked": count}

    return app
