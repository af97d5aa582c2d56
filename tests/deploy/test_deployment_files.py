"""The deployment files (``Dockerfile``, ``.dockerignore``, ``docker-compose.yml``), checked
without a Docker engine and without a database (these tests ignore ``--db``).

``docker-compose.yml`` is validated by whichever compose client is installed: the v2 plugin
(``docker compose``) or Debian's v1 ``docker-compose`` (which ``.ci/run`` installs). With
neither, those tests skip and say why. The Dockerfile checks read the file and need nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"

SECRET = "compose-config-test-secret-0123456789-abcdef"
SERVICES = {"db", "migrate", "app"}


# -- compose ------------------------------------------------------------------------------


def _succeeds(argv: list[str]) -> bool:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@cache
def _compose_client() -> tuple[str, ...] | None:
    # A docker CLI without the compose plugin answers "unknown command": try the plugin itself.
    docker = shutil.which("docker")
    if docker and _succeeds([docker, "compose", "version"]):
        return (docker, "compose")
    legacy = shutil.which("docker-compose")
    if legacy and _succeeds([legacy, "version"]):
        return (legacy,)
    return None


RunCompose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def compose(tmp_path: Path) -> RunCompose:
    """Run ``<client> -f docker-compose.yml ARGS`` from the repository root.

    The environment is the test process's minus anything that would change the result
    (``IDENTITY_*``, ``POSTGRES_*``, ``COMPOSE_*``); an empty ``--env-file`` keeps a developer's
    ``.env`` out too. ``IDENTITY_SECRET_KEY`` is set unless ``secret=None``.
    """
    client = _compose_client()
    if client is None:
        pytest.skip(
            "no compose client: neither `docker compose` (v2 plugin) nor `docker-compose` (v1) "
            "works here; `apt-get install -y --no-install-recommends docker-compose` provides v1"
        )
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")

    def run(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("IDENTITY_", "POSTGRES_", "COMPOSE_"))
        }
        if secret is not None:
            env["IDENTITY_SECRET_KEY"] = secret
        argv = [*client, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), *args]
        return subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    return run


def _parsed_config(compose: RunCompose) -> tuple[str, dict[str, Any] | None]:
    """The resolved configuration as text, and as a dict when it can be parsed here.

    Compose v2 prints JSON with ``--format json``; v1 has no such option and prints YAML, which
    is parsed with PyYAML when it is installed (``uvicorn[standard]`` brings it), and otherwise
    only checked as text.
    """
    client = _compose_client() or ()
    if client[1:] == ("compose",):  # the v2 plugin: `docker compose`
        result = compose("config", "--format", "json")
        assert result.returncode == 0, result.stderr
        return result.stdout, json.loads(result.stdout)
    # v1 (which prints its help, with status 0, for an unknown option such as --format)
    result = compose("config")
    assert result.returncode == 0, result.stderr
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        return result.stdout, None
    return result.stdout, yaml.safe_load(result.stdout)


def test_compose_file_validates(compose):
    result = compose("config", "-q")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_compose_refuses_to_run_without_the_secret_key(compose):
    result = compose("config", "-q", secret=None)
    assert result.returncode != 0
    assert "set IDENTITY_SECRET_KEY" in result.stdout + result.stderr


def test_compose_runs_migrations_before_the_app_once_the_database_is_healthy(compose):
    text, config = _parsed_config(compose)

    # Checks that hold for the text of either output format.
    for needle in (
        "postgres:15",
        "pg_isready",
        "service_healthy",
        "service_completed_successfully",
    ):
        assert needle in text
    assert SECRET in text

    if config is None:  # pragma: no cover - no YAML parser for v1's output
        return
    services = config["services"]
    assert set(services) == SERVICES

    db = services["db"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(db["environment"])
    assert db.get("volumes"), "the database needs a volume"

    migrate, app = services["migrate"], services["app"]
    assert migrate["image"] == app["image"]
    assert migrate["command"] == ["identity", "db", "upgrade"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "command" not in app, "the app runs the image's CMD (identity serve)"
    assert any(
        int(port["target"]) == 8000 and str(port.get("published")) == "8000"
        for port in app["ports"]
    )

    for service in (migrate, app):
        env = service["environment"]
        assert env["IDENTITY_ENV"] == "production"
        assert env["IDENTITY_SECRET_KEY"] == SECRET
        assert env["IDENTITY_ISSUER"].startswith("https://")
        assert re.fullmatch(
            r"postgresql\+psycopg://[^@]+@db:5432/identity", env["IDENTITY_DATABASE_URL"]
        )


# -- Dockerfile ---------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, joined as Docker's parser joins them: a line ending
    in a backslash continues on the next one, verbatim (its indentation kept); comment and blank
    lines are dropped, also inside a continued instruction."""
    instructions: list[tuple[str, str]] = []
    pending: str | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        line = (raw if pending is not None else raw.lstrip()).rstrip()
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1]
            continue
        keyword, _, arguments = ((pending or "") + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = None
    assert pending is None, "the Dockerfile ends inside a continued line"
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions split into build stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, arguments))
    return stages


def _global_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    args = {}
    for keyword, arguments in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            args[name] = default
    return args


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _last(stage: list[tuple[str, str]], keyword: str) -> str | None:
    values = [arguments for kw, arguments in stage if kw == keyword]
    return values[-1] if values else None


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(instructions) -> list[tuple[str, str]]:
    return _stages(instructions)[-1]


def test_dockerfile_is_multi_stage_on_python_slim(instructions, final_stage):
    stages = _stages(instructions)
    assert len(stages) >= 2
    args = _global_args(instructions)
    for stage in stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
        assert image == "python:3.11-slim"
    copies = [arguments for keyword, arguments in final_stage if keyword == "COPY"]
    assert any(c.startswith("--from=") and "/opt/venv" in c for c in copies), copies


def test_dockerfile_final_stage_runs_as_a_fixed_non_root_user(final_stage):
    user = _last(final_stage, "USER")
    assert user is not None, "the final stage must set USER"
    name = user.split(":")[0]
    assert name not in ("root", "0")
    assert name.isdigit(), "a numeric uid lets orchestrators check runAsNonRoot"


def test_dockerfile_has_a_healthcheck_without_curl(final_stage):
    healthcheck = _last(final_stage, "HEALTHCHECK")
    assert healthcheck is not None
    assert healthcheck.upper() != "NONE"
    assert "/healthz" in healthcheck
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck


def test_dockerfile_serves_identity_on_port_8000(final_stage):
    cmd = _last(final_stage, "CMD")
    assert cmd is not None
    argv = json.loads(cmd)  # exec form: signals reach the server, not a shell
    assert argv[:2] == ["identity", "serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside the container
    assert argv[argv.index("--port") + 1] == "8000"
    assert "8000" in (_last(final_stage, "EXPOSE") or "").split()
    assert _last(final_stage, "ENTRYPOINT") is None


def test_dockerfile_environment_is_production_without_secrets(instructions, final_stage):
    env = _env(final_stage)
    assert env["IDENTITY_ENV"] == "production"
    assert env["PYTHONUNBUFFERED"] == "1"
    var_dir = env["IDENTITY_VAR_DIR"]
    assert any(kw == "RUN" and var_dir in arguments for kw, arguments in final_stage), (
        "IDENTITY_VAR_DIR must be created (and owned by the service user) in the image"
    )
    declared = {arguments.split("=")[0] for kw, arguments in instructions if kw == "ARG"}
    for stage in _stages(instructions):
        declared |= set(_env(stage))
    leaked = {n for n in declared if re.search(r"SECRET|PASSWORD|TOKEN|_KEY$", n)}
    assert not leaked, f"secrets must come from the run-time environment, not the image: {leaked}"


def test_dockerfile_fetches_nothing_with_add_and_installs_a_wheel(instructions):
    for keyword, arguments in instructions:
        if keyword == "ADD":
            assert not re.search(r"\b(https?|git)://", arguments), arguments
        if keyword == "RUN":
            assert not re.search(r"pip install .*(-e\b|--editable)", arguments), arguments
    assert any(kw == "RUN" and "pip wheel" in arguments for kw, arguments in instructions)


def test_dockerfile_copies_what_the_wheel_is_built_from(instructions):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"], "src"}
    needed |= set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"])
    copied = set()
    for keyword, arguments in _stages(instructions)[0]:
        if keyword == "COPY" and not arguments.startswith("--from"):
            copied |= {source.rstrip("/") for source in arguments.split()[:-1]}
    assert needed <= copied, f"not copied into the builder: {needed - copied}"
    for source in sorted(copied):
        # Git keeps no empty folder: a folder the wheel force-includes needs a tracked file
        # (policies/.gitkeep until the first policy), or a clean clone cannot build the wheel.
        assert (ROOT / source).exists(), f"{source} is missing: COPY and the wheel build fail"


def test_dockerignore_keeps_local_state_out_but_not_the_sources(instructions):
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for required in (".git", ".venv", "var", "artifacts", "bench/results", ".env"):
        assert required in patterns, required
    assert any("node_modules" in p for p in patterns)
    assert any("__pycache__" in p for p in patterns)
    for keyword, arguments in instructions:
        if keyword == "COPY" and not arguments.startswith("--from"):
            for source in arguments.split()[:-1]:
                source = source.rstrip("/")
                excluded = [p for p in patterns if not p.startswith("!") and fnmatch(source, p)]
                assert not excluded, f"{source} is copied but excluded by {excluded}"
