"""``make run`` writes the admin password file owner-only from the moment it exists."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def password_snippet() -> str:
    """The Python that ``scripts/run_airflow.sh`` runs to create the passwords file."""
    script = (REPO / "scripts" / "run_airflow.sh").read_text()
    found = re.search(
        r'python - "\$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<\'PY\'\n(.*?)\nPY\n', script, re.S
    )
    assert found, "password snippet not found in run_airflow.sh"
    return found.group(1)


@pytest.mark.parametrize("leftover", [False, True], ids=["new file", "empty leftover file"])
def test_the_passwords_file_is_never_readable_by_others(tmp_path, leftover):
    path = tmp_path / "passwords.json"
    if leftover:
        path.touch(mode=0o644)
        os.chmod(path, 0o644)
    # Run the snippet alone, under the usual umask, and look at the file before anything else can
    # chmod it.
    subprocess.run(
        ["sh", "-c", 'umask 022 && exec "$0" - "$1"', sys.executable, str(path)],
        input=password_snippet(),
        text=True,
        check=True,
    )
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert '"admin"' in path.read_text()
