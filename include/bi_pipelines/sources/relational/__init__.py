"""Windowed, streaming extraction of PostgreSQL, Redshift and MySQL/MariaDB tables."""
