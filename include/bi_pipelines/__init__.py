"""Extraction pipelines and the source freshness monitor for the BI warehouse.

Everything here is importable without a running scheduler: DAG files in ``dags/`` only wire
these functions together.
"""
