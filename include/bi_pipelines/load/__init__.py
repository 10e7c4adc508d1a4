"""Loading into the warehouse: target tables, staging, COPY text, publishing and Redshift COPY."""
