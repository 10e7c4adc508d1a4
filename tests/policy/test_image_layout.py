"""The image holds dags/, plugins/ and include/ only: everything shipped must work from those."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import bi_pipelines
    modules = [m.name for m in pkgutil.walk_packages(bi_pipelines.__path__, "bi_pipelines.")]
    for name in modules + ["credentials_secrets_backend"]:
        importlib.import_module(name)
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({
        "modules": len(modules),
        "dags": sorted(bag.dag_ids),
        "import_errors": {k: str(v)[-500:] for k, v in bag.import_errors.items()},
        "loaded": sorted({m.split(".")[0] for m in sys.modules}),
        "path": sys.path,
    }))
    """
)


def test_every_module_and_dag_imports_with_only_the_image_folders_on_the_path(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k not in ("AIRFLOW__CORE__DAGS_FOLDER",)
    }
    # As in the Dockerfile: PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins, nothing else of
    # the checkout (the working directory is elsewhere, so '' on sys.path finds nothing).
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include"), str(REPO / "plugins")])
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "dags")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any(p.rstrip("/") == str(REPO) for p in report["path"])
    assert report["import_errors"] == {}
    assert len(report["dags"]) == 6
    assert report["modules"] > 30
    assert "tests" not in report["loaded"]
    assert "devtools" not in report["loaded"]
