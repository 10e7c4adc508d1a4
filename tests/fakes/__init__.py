"""Local fakes of external systems, started by the tests (and by demos) on a local port."""
