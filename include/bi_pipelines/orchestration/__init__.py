"""Airflow wiring of the pipelines: DAGs, tasks, assets, callbacks; the only layer using ``airflow.sdk``."""
