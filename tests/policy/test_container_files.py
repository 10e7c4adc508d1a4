"""Lint and policy checks for the container files: Dockerfile, docker-compose.yaml, .env.example,
.dockerignore, the GitHub workflows and .pre-commit-config.yaml.

No Docker engine runs here, so nothing is built or started: the files are checked with the
linters the project pins (hadolint, check-jsonschema with its vendored Compose and GitHub
Actions schemas, pre-commit) and with team policy written as Python (no literal secret in
compose, credentials mounted read-only, a healthcheck on every long-running service...).

Every check is also fed a deliberately broken copy and must reject it: a check that cannot
fail proves nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
AIRFLOW_ENV_SCRIPT = ROOT / "scripts" / "airflow_env.sh"

AIRFLOW_BASE_IMAGE = "apache/airflow:3.3.2"
BAKED_FOLDERS = ("dags", "plugins", "include")
# Services that run once and exit; every other service must stay up and report its health.
ONE_SHOT_SERVICES = {"airflow-init"}
# AIRFLOW__SECRETS__BACKEND names a class, not a secret.
SECRET_NAME = re.compile(r"PASSWORD|SECRET(?!S__)|FERNET", re.IGNORECASE)
REQUIRED_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}")
URL_CREDENTIALS = re.compile(r"://[^:/@\s]*:(?P<password>[^@\s]*)@")


# --- helpers ---------------------------------------------------------------------------------


def tool(name: str) -> str:
    """Path of a linter installed in the project's virtualenv (requirements-dev.txt)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` is not installed: run `make install` (it is in requirements-dev.txt)")
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("hadolint"), "--no-color", "--config", HADOLINT_CONFIG, dockerfile)


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", schema, *files)


def copy_with(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    """A copy of source in tmp_path with one change; fails if `old` is not in the file."""
    text = source.read_text()
    assert old in text, f"{source.name} no longer contains {old!r}: update this test's mutation"
    target = tmp_path / source.name
    target.write_text(text.replace(old, new, 1))
    return target


def load_yaml(text: str) -> dict:
    return yaml.safe_load(text)  # PyYAML's safe loader resolves the `<<: *anchor` merges


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def dockerfile_env(text: str) -> dict[str, str]:
    env = {}
    for keyword, args in dockerfile_instructions(text):
        if keyword == "ENV":
            for token in shlex.split(args):
                name, _, value = token.partition("=")
                env[name] = value
    return env


# --- policy checks: each returns the problems it found (empty = compliant) --------------------


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    instructions = dockerfile_instructions(text)
    froms = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    if not froms or not froms[-1].startswith(AIRFLOW_BASE_IMAGE):
        problems.append(f"final FROM must be {AIRFLOW_BASE_IMAGE}-python3.11, got {froms}")
    copied = {}
    for keyword, args in instructions:
        if keyword == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            for source in parts[:-1]:
                copied[source.rstrip("/")] = parts[-1].rstrip("/")
    for folder in BAKED_FOLDERS:
        if copied.get(folder) != f"/opt/airflow/{folder}":
            problems.append(f"{folder}/ must be copied to /opt/airflow/{folder}, got {copied.get(folder)}")
    if any(source.startswith(("credentials", ".env")) for source in copied):
        problems.append("credentials and .env must never be copied into the image")
    if any(source.startswith(("devtools", "tests", "scripts")) for source in copied):
        problems.append("devtools/, tests/ and scripts/ are dev-only: never copied into the image")
    env = dockerfile_env(text)
    expected = {
        "PYTHONPATH": "/opt/airflow/include:/opt/airflow/plugins",
        "AIRFLOW__SECRETS__BACKEND": "credentials_secrets_backend.CredentialsFileSecretsBackend",
        "CREDENTIALS_DIR": "/opt/airflow/credentials",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    for name, value in expected.items():
        if env.get(name) != value:
            problems.append(f"ENV {name} must be {value!r}, got {env.get(name)!r}")
    try:
        kwargs = json.loads(env.get("AIRFLOW__SECRETS__BACKEND_KWARGS", ""))
    except json.JSONDecodeError:
        kwargs = None
    if kwargs != {"credentials_dir": "/opt/airflow/credentials"}:
        problems.append(f"ENV AIRFLOW__SECRETS__BACKEND_KWARGS is not the credentials_dir JSON: {kwargs!r}")
    users = [args for keyword, args in instructions if keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        problems.append(f"the image must not end as root (USER instructions: {users})")
    return problems


def local_env_drift(dockerfile_text: str, env_script_text: str) -> list[str]:
    """Settings scripts/airflow_env.sh exports for a local run that the image lacks or sets differently.

    AIRFLOW_HOME and PATH come from the base image; values built from the checkout's paths are
    only required to exist, plain values (and `${X:-default}` defaults) must match.
    """
    env = dockerfile_env(dockerfile_text)
    problems = []
    for match in re.finditer(r"^export (\w+)=(.*)$", env_script_text, re.MULTILINE):
        name, value = match[1], match[2].strip().strip('"')
        if name in {"AIRFLOW_HOME", "PATH"}:
            continue
        if name not in env:
            problems.append(f"scripts/airflow_env.sh exports {name} but the Dockerfile has no ENV {name}")
            continue
        default = re.fullmatch(r"\$\{\w+:-([^$}]*)\}", value)
        value = default[1] if default else value
        if "$" not in value and env[name] != value:
            problems.append(f"ENV {name}={env[name]!r} differs from scripts/airflow_env.sh ({value!r})")
    return problems


def compose_secret_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose.get("services", {}).items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not REQUIRED_REFERENCE.fullmatch(value):
                problems.append(f"services.{name}.environment.{key} must be a ${{{key}:?...}} reference")
            # A password inside a URL must be a required reference too (redis://:@host has none).
            for match in URL_CREDENTIALS.finditer(REQUIRED_REFERENCE.sub("<from .env>", value)):
                if match["password"] not in {"", "<from .env>"}:
                    problems.append(f"services.{name}.environment.{key} has a literal password in its URL")
    return problems


def airflow_services(compose: dict) -> dict[str, dict]:
    """Services that run the project's image (the ones that need the credentials files)."""
    common_image = compose["x-airflow-common"]["image"]
    return {name: s for name, s in compose["services"].items() if s.get("image") == common_image}


def compose_problems(compose: dict) -> list[str]:
    problems = []
    services = compose.get("services", {})
    common = compose.get("x-airflow-common", {})
    if not str(common.get("image", "")).startswith("${AIRFLOW_IMAGE_NAME:-"):
        problems.append("x-airflow-common.image must be ${AIRFLOW_IMAGE_NAME:-<default image>}")
    if common.get("build") != ".":
        problems.append("x-airflow-common must keep `build: .` as the fallback when the pull fails")
    for name, service in airflow_services(compose).items():
        volumes = [str(v) for v in service.get("volumes", [])]
        mounts = [v for v in volumes if v.split(":")[1:2] == ["/opt/airflow/credentials"]]
        if mounts != ["./credentials:/opt/airflow/credentials:ro"]:
            problems.append(f"services.{name} must mount ./credentials read-only (:ro), has {mounts}")
        if not any(v.split(":")[1:2] == ["/opt/airflow/logs"] for v in volumes):
            problems.append(f"services.{name} must mount the logs volume at /opt/airflow/logs")
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        if not service.get("healthcheck", {}).get("test"):
            problems.append(f"services.{name} is long-running and has no healthcheck")
        if service.get("restart") not in {"always", "unless-stopped"}:
            problems.append(f"services.{name} is long-running and has no restart policy")
    for required in (
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        if required not in services:
            problems.append(f"services.{required} is missing")
    ports = [str(p) for p in services.get("airflow-apiserver", {}).get("ports", [])]
    if not any(p.endswith(":8080") for p in ports):
        problems.append(f"airflow-apiserver must publish container port 8080, has {ports}")
    executor = environment(common).get("AIRFLOW__CORE__EXECUTOR", "")
    if executor != "${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}":
        problems.append(f"the executor must default to LocalExecutor from .env, is {executor!r}")
    for name in ("redis", "airflow-worker"):
        if services.get(name, {}).get("profiles") != ["celery"]:
            problems.append(f"services.{name} must exist in the `celery` profile only")
    # A service that is always on cannot wait for one that only a profile starts.
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            needed = set(services.get(dependency, {}).get("profiles") or [])
            if needed and not needed & set(service.get("profiles") or []):
                problems.append(
                    f"services.{name} depends on {dependency}, which only profiles {needed} start"
                )
    return problems


def dev_mount_problems(compose: dict) -> list[str]:
    """Services that run dev-only code (devtools/) must get it as a read-only mount: it is never
    baked into the image."""
    problems = []
    for name, service in compose.get("services", {}).items():
        command = service.get("command") or []
        command = " ".join(command) if isinstance(command, list) else str(command)
        if "devtools/" not in command:
            continue
        volumes = [str(v) for v in service.get("volumes", [])]
        if "./devtools:/opt/airflow/devtools:ro" not in volumes:
            problems.append(f"services.{name} runs devtools/ but does not mount ./devtools read-only")
    return problems


def interpolation_problems(text: str) -> list[str]:
    """Compose-level `$` syntax: `$$` for the shell, `${NAME...}` or `$NAME` for compose."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        rest = line.replace("$$", "")
        for match in re.finditer(r"\$(?!\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|[A-Za-z_])", rest):
            problems.append(f"docker-compose.yaml:{number}: `$` at column {match.start() + 1} is not `$$`")
    return problems


def compose_variables(text: str) -> set[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    text = "\n".join(lines).replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)) | set(
        re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text)
    )


def env_example_problems(env_text: str, compose_text: str) -> list[str]:
    problems = []
    documented: dict[str, str] = {}
    for line in env_text.splitlines():
        match = re.match(r"^\s*(?:#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match and not line.lstrip().startswith("#"):
            documented[match[1]] = match[2].strip()
        elif match:
            documented.setdefault(match[1], "")
    for name in sorted(compose_variables(compose_text) - documented.keys()):
        problems.append(f"docker-compose.yaml uses ${{{name}}} but .env.example does not document it")
    for line in env_text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match and SECRET_NAME.search(match[1]) and match[2].strip():
            problems.append(f".env.example sets {match[1]}: leave secrets empty so compose demands them")
    return problems


def dockerignore_problems(ignore_text: str, dockerfile_text: str) -> list[str]:
    patterns = [
        line.strip() for line in ignore_text.splitlines() if line.strip() and not line.startswith("#")
    ]
    problems = []
    if not patterns or patterns[0] != "*":
        problems.append(".dockerignore must start with `*` (an allow-list: nothing enters by default)")
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for secret in ("credentials", "credentials/postgres_creds.py", ".env", ".venv", ".airflow"):
        if any(fnmatch(secret, pattern) or secret.startswith(pattern + "/") for pattern in allowed):
            problems.append(f".dockerignore lets {secret} into the build context")
    for keyword, args in dockerfile_instructions(dockerfile_text):
        if keyword in {"COPY", "ADD"}:
            sources = [p for p in args.split() if not p.startswith("--")][:-1]
            for source in sources:
                if source.rstrip("/") not in allowed:
                    problems.append(f"Dockerfile copies {source} but .dockerignore does not allow it")
    return problems


# --- the linters -----------------------------------------------------------------------------


def test_hadolint_passes():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("--no-install-recommends ", "", "DL3015"),  # apt pulls recommended packages
        ("--no-cache-dir ", "", "DL3042"),  # pip keeps its cache in a layer
        ('      org.opencontainers.image.vendor="BI team" \\\n', "", "DL3049"),  # a required label
        ("FROM apache/airflow", "FROM quay.io/apache/airflow", "DL3026"),  # untrusted registry
    ],
    ids=["apt-recommends", "pip-cache", "missing-label", "untrusted-registry"],
)
def test_hadolint_rejects_a_broken_dockerfile(tmp_path, old, new, rule):
    result = hadolint(copy_with(tmp_path, DOCKERFILE, old, new))
    assert result.returncode != 0, output(result)
    assert rule in result.stdout, output(result)


def test_compose_file_matches_the_compose_spec():
    result = check_jsonschema("vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, output(result)


def test_compose_spec_check_rejects_a_broken_file(tmp_path):
    broken = copy_with(
        tmp_path, COMPOSE, "    command: scheduler\n", "    command: scheduler\n    imagee: x\n"
    )
    result = check_jsonschema("vendor.compose-spec", broken)
    assert result.returncode != 0, output(result)
    assert "imagee" in output(result), output(result)


def test_workflows_match_the_github_schema():
    assert {path.name for path in WORKFLOWS} >= {"image.yml", "ci.yml"}
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, output(result)
    # A hung job otherwise burns six hours of runner time.
    result = check_jsonschema("custom.github-workflows-require-timeout", *WORKFLOWS)
    assert result.returncode == 0, output(result)


def test_workflow_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = copy_with(tmp_path, ROOT / ".github/workflows/image.yml", "runs-on:", "run-on:")
    result = check_jsonschema("vendor.github-workflows", broken)
    assert result.returncode != 0, output(result)
    broken = copy_with(tmp_path, ROOT / ".github/workflows/image.yml", "    timeout-minutes: 75\n", "")
    result = check_jsonschema("custom.github-workflows-require-timeout", broken)
    assert result.returncode != 0, output(result)


def test_image_workflow_publishes_to_ghcr_on_version_tags():
    workflow = load_yaml((ROOT / ".github/workflows/image.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"]["tags"] == ["v*"]
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"]["packages"] == "write"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    uses = {step.get("uses", "").split("@")[0]: step for step in steps}
    assert uses["docker/metadata-action"]["with"]["images"] == "ghcr.io/${{ github.repository }}"
    pushes = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action")]
    assert any(s["with"].get("push") is True for s in pushes), pushes
    assert uses["docker/login-action"]["with"]["registry"] == "ghcr.io"


def test_image_workflow_runs_the_compose_smoke_test_before_pushing():
    workflow = load_yaml((ROOT / ".github/workflows/image.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    smoke = [i for i, s in enumerate(steps) if "devtools/docker/test_docker.sh" in s.get("run", "")]
    push = [i for i, s in enumerate(steps) if (s.get("with") or {}).get("push") is True]
    assert smoke, steps
    assert push, steps
    assert smoke[0] < push[0], (smoke, push)
    # Against the real public images: the stand-in build is for machines that cannot pull them.
    assert steps[smoke[0]]["env"]["DOCKER_TEST_STANDINS"] == "0"


def test_pre_commit_config_is_valid_and_runs_the_make_lint_checks(tmp_path):
    result = run(tool("pre-commit"), "validate-config", PRE_COMMIT)
    assert result.returncode == 0, output(result)
    hooks = [hook for repo in load_yaml(PRE_COMMIT.read_text())["repos"] for hook in repo["hooks"]]
    entries = " | ".join(hook["entry"] for hook in hooks)
    for command in (".venv/bin/ruff check", ".venv/bin/ruff format --check", "hadolint", "check-jsonschema"):
        assert command in entries, f"no pre-commit hook runs `{command}`: {entries}"
    broken = copy_with(tmp_path, PRE_COMMIT, "language: system", "language: sytsem")
    result = run(tool("pre-commit"), "validate-config", broken)
    assert result.returncode != 0, output(result)


# --- team policy -----------------------------------------------------------------------------


def test_dockerfile_policy():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:2.10.5", "final FROM"),
        ("COPY --chown=50000:0 include/ /opt/airflow/include/\n", "", "include/ must be copied"),
        ("CREDENTIALS_DIR=/opt/airflow/credentials", "CREDENTIALS_DIR=/tmp", "ENV CREDENTIALS_DIR"),
        ("\nUSER 50000\n", "\n", "must not end as root"),
        (
            "COPY --chown=50000:0 include/ /opt/airflow/include/\n",
            "COPY --chown=50000:0 include/ /opt/airflow/include/\nCOPY devtools/ /opt/airflow/devtools/\n",
            "dev-only",
        ),
    ],
    ids=["old-airflow", "include-not-copied", "credentials-dir", "ends-as-root", "devtools-baked"],
)
def test_dockerfile_policy_rejects(tmp_path, old, new, expected):
    problems = dockerfile_problems(copy_with(tmp_path, DOCKERFILE, old, new).read_text())
    assert any(expected in p for p in problems), problems


def test_image_environment_mirrors_the_local_run():
    assert local_env_drift(DOCKERFILE.read_text(), AIRFLOW_ENV_SCRIPT.read_text()) == []


def test_local_run_drift_is_detected():
    script = AIRFLOW_ENV_SCRIPT.read_text() + "export AIRFLOW__CORE__NEW_SETTING=1\n"
    script = script.replace("AIRFLOW__CORE__LOAD_EXAMPLES=False", "AIRFLOW__CORE__LOAD_EXAMPLES=True")
    problems = local_env_drift(DOCKERFILE.read_text(), script)
    assert len(problems) == 2, problems
    assert "NEW_SETTING" in problems[0] + problems[1], problems


def test_compose_has_no_literal_secrets():
    assert compose_secret_problems(load_yaml(COMPOSE.read_text())) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "${AIRFLOW__CORE__FERNET_KEY:?set AIRFLOW__CORE__FERNET_KEY in .env (see .env.example)}",
            "ZmFrZS1mZXJuZXQta2V5LWRvLW5vdC11c2UtMDAwMDA=",
        ),
        (
            "${_AIRFLOW_WWW_USER_PASSWORD:?set _AIRFLOW_WWW_USER_PASSWORD in .env (see .env.example)}",
            "${_AIRFLOW_WWW_USER_PASSWORD:-admin}",
        ),
        (
            "airflow:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env (see .env.example)}@",
            "airflow:airflow@",
        ),
    ],
    ids=["literal-fernet", "default-password", "password-in-url"],
)
def test_literal_secrets_are_detected(tmp_path, old, new):
    broken = copy_with(tmp_path, COMPOSE, old, new)
    assert compose_secret_problems(load_yaml(broken.read_text())) != []


def test_compose_policy():
    assert compose_problems(load_yaml(COMPOSE.read_text())) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("/opt/airflow/credentials:ro", "/opt/airflow/credentials", "read-only"),
        (
            "    command: triggerer\n    healthcheck:\n",
            "    command: triggerer\n    x-healthcheck:\n",
            "airflow-triggerer is long-running and has no healthcheck",
        ),
        ("${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}", "CeleryExecutor", "LocalExecutor"),
        (
            "    profiles: [celery]\n    command: celery worker",
            "    command: celery worker",
            "airflow-worker",
        ),
        (
            "  depends_on: &airflow-common-depends-on\n",
            "  depends_on: &airflow-common-depends-on\n    redis:\n      condition: service_healthy\n",
            "only profiles",
        ),
    ],
    ids=["credentials-rw", "no-healthcheck", "celery-default", "worker-always-on", "needs-profiled"],
)
def test_compose_policy_rejects(tmp_path, old, new, expected):
    problems = compose_problems(load_yaml(copy_with(tmp_path, COMPOSE, old, new).read_text()))
    assert any(expected in p for p in problems), problems


def test_demo_services_mount_devtools_read_only():
    assert dev_mount_problems(load_yaml(COMPOSE.read_text())) == []


def test_dev_mount_problems_are_detected(tmp_path):
    broken = copy_with(
        tmp_path, COMPOSE, "./devtools:/opt/airflow/devtools:ro", "./tests:/opt/airflow/tests:ro"
    )
    assert dev_mount_problems(load_yaml(broken.read_text())) != []


def test_compose_interpolation_syntax():
    assert interpolation_problems(COMPOSE.read_text()) == []


def test_compose_interpolation_syntax_rejects_a_single_dollar():
    text = COMPOSE.read_text().replace("$$(id -u)", "$(id -u)", 1)
    assert interpolation_problems(text) != []


def test_env_example_documents_every_variable_and_holds_no_secret():
    assert env_example_problems(ENV_EXAMPLE.read_text(), COMPOSE.read_text()) == []


def test_env_example_problems_are_detected():
    env_text = ENV_EXAMPLE.read_text()
    undocumented = env_text.replace("AIRFLOW_API_PORT=8080\n", "")
    assert any("AIRFLOW_API_PORT" in p for p in env_example_problems(undocumented, COMPOSE.read_text()))
    filled = env_text.replace("\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=hunter2\n")
    assert any("sets POSTGRES_PASSWORD" in p for p in env_example_problems(filled, COMPOSE.read_text()))


def test_dockerignore_keeps_credentials_out_and_lets_the_copied_folders_in():
    assert dockerignore_problems(DOCKERIGNORE.read_text(), DOCKERFILE.read_text()) == []


def test_dockerignore_problems_are_detected():
    ignore, dockerfile = DOCKERIGNORE.read_text(), DOCKERFILE.read_text()
    assert dockerignore_problems(ignore + "!credentials/\n", dockerfile) != []
    assert dockerignore_problems(ignore.replace("!include/\n", ""), dockerfile) != []
    assert dockerignore_problems(ignore.replace("\n*\n", "\n"), dockerfile) != []
