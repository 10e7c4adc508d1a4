"""The Freshness page in the Airflow UI: a FastAPI app under ``/freshness`` and a navigation entry.

The api-server mounts the app (``fastapi_apps``); the UI shows the page in its frame under
``/plugin/freshness`` (``external_views`` with a ``url_route``). The page and its API live in
``bi_pipelines.freshness.ui``; this file only registers them.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from bi_pipelines.freshness.ui.app import create_app

URL_PREFIX = "/freshness"


class FreshnessUIPlugin(AirflowPlugin):
    """Registers the Freshness app and its entry in the navigation bar."""

    name = "freshness_ui"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Source freshness"}]
    external_views = [
        {
            "name": "Freshness",
            "href": f"{URL_PREFIX}/",
            "url_route": "freshness",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
