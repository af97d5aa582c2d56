"""The ``identity`` command in the test's own process (click's runner), on the test database
with the test's secret, so it reads the same keys as the test's runtime. Fast enough to run
every operator command in a test; ``tests/integration/test_cli.py`` covers real processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result

from identity.cli import main
from identity.settings import Settings


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def identity(settings: Settings) -> Callable[..., Ran]:
    """``identity(*args, input=None)``: run a command; what it printed, and its exit code."""
    env = {
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_SECRET_KEY": settings.secret.decode(),
        "IDENTITY_ISSUER": settings.issuer,
        "IDENTITY_VAR_DIR": str(settings.var_dir),
        "IDENTITY_KEYS_CACHE_TTL": "0",
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_COST": "1024",
        "IDENTITY_ARGON2_PARALLELISM": "1",
    }

    def run(*args: str, input: str | None = None) -> Ran:
        result: Result = CliRunner().invoke(main, list(args), env=env, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run
