"""The Freshness page of the Airflow UI: a FastAPI app served by the api-server (see ``app.py``)."""
