"""Extraction of the Vonigo REST API, one franchise at a time."""
