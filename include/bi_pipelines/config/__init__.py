"""The YAML configuration of the pipelines: one file per flow or system, one entry per table or report.

Nothing but data lives here; the models that read and validate these files are next to the code
that uses them (``core/settings.py`` and each source's ``spec.py``).
"""
