"""The Redshift provider hook without this project's own connection extras (imports the Amazon provider)."""

from __future__ import annotations

import copy
import json
from functools import cached_property

from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

from bi_pipelines.db.connections import DEFAULT_CONNECT_TIMEOUT, PROJECT_EXTRA_KEYS


class WarehouseRedshiftHook(RedshiftSQLHook):
    """``RedshiftSQLHook`` whose connection carries only the extras ``redshift_connector`` takes.

    The provider's ``get_conn`` (IAM tokens, serverless work groups, ``_get_conn_params``) is kept
    as is: only the connection it reads is adjusted. The provider passes every extra to
    ``redshift_connector.connect``, which rejects the project's own keys; ``connect_timeout``
    becomes the driver's ``timeout`` (an explicit ``timeout`` extra wins).
    """

    @cached_property
    def conn(self):
        """The Airflow connection, copied, with only the extras ``redshift_connector`` accepts."""
        # ``self.connection``: the connection handed to the hook, else looked up once.
        connection = copy.copy(self.connection)
        extra = {k: v for k, v in connection.extra_dejson.items() if k not in PROJECT_EXTRA_KEYS}
        extra.setdefault("timeout", int(extra.pop("connect_timeout", DEFAULT_CONNECT_TIMEOUT)))
        connection.extra = json.dumps(extra)
        return connection
