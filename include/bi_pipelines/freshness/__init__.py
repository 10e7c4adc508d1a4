"""The source freshness monitor: when was each source table last updated, and is that too long ago?

``config`` builds the list of tables (the extraction flows plus ``freshness.yaml``), ``queries``
speaks each SQL dialect, ``sweep`` measures one server's tables over one connection, ``writer``
records the history in the warehouse, ``alerts`` tells people, ``monitor`` ties a run together.
"""
