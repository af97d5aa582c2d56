"""Test harness: the same suite runs on SQLite or PostgreSQL (``--db``), each test on a clean
database, against the real ASGI app over HTTP (Starlette's TestClient) or a real server.

``make test`` runs the suite twice, ``--db=sqlite`` then ``--db=postgresql``. For PostgreSQL a
throwaway cluster is started for the run unless ``IDENTITY_TEST_DATABASE_URL`` names a server;
with neither available the run fails loudly instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import freezegun
import pytest
from sqlalchemy import delete, insert

# pytest's own clock (``--durations``, junit times) keeps running while a test freezes time.
# Only the module that holds that clock: ignoring a package freezegun finds on the call stack
# (``_pytest``) would give a frozen test real time in shallow frames and frozen time in deep
# ones, and a subprocess timeout measured across both expires at once.
freezegun.configure(extend_ignore_list=["_pytest.timing"])

# The developer's own IDENTITY_* settings must not leak into tests.
for _name in [
    n for n in os.environ if n.startswith("IDENTITY_") and not n.startswith("IDENTITY_TEST_")
]:
    del os.environ[_name]

from identity.app import create_app  # noqa: E402
from identity.audit.merkle import EMPTY_TREE_HASH  # noqa: E402
from identity.audit.models import AuditTreeRow  # noqa: E402
from identity.consent.models import ConsentFeedHead  # noqa: E402
from identity.db import Database, utcnow  # noqa: E402
from identity.models import metadata  # noqa: E402
from identity.runtime import Runtime  # noqa: E402
from identity.schema import upgrade  # noqa: E402
from identity.settings import Environment, MailBackend, Settings  # noqa: E402
from tests.support.postgres import PostgresUnavailable, recreate_database, start_cluster  # noqa: E402

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
SERVER_URL_VAR = "IDENTITY_TEST_DATABASE_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("IDENTITY_TEST_DB", "sqlite"),
        help="database backend for the whole run",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("db") != "postgresql" or hasattr(config, "workerinput"):
        return
    if os.environ.get(SERVER_URL_VAR):
        return
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        raise pytest.UsageError(f"--db=postgresql: {exc}") from exc
    config._identity_pg_cluster = cluster  # type: ignore[attr-defined]
    os.environ[SERVER_URL_VAR] = cluster.url  # inherited by xdist workers


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = getattr(config, "_identity_pg_cluster", None)
    if cluster is not None:
        cluster.stop()
        os.environ.pop(SERVER_URL_VAR, None)


def pytest_report_header(config: pytest.Config) -> str:
    return f"identity database backend: {config.getoption('db')}"


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("db"))


@pytest.fixture(scope="session")
def worker_id_safe(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def new_database(
    backend: str, worker_id_safe: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], str]:
    """Factory: an empty database of the run's backend, named for this worker."""

    def make(name: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / f"{name}.db"
            return f"sqlite:///{path}"
        server = os.environ.get(SERVER_URL_VAR)
        if not server:
            raise pytest.UsageError(f"--db=postgresql needs {SERVER_URL_VAR} or local binaries")
        return recreate_database(server, f"{name}_{worker_id_safe}".lower())

    return make


@pytest.fixture(scope="session")
def migrated_url(new_database: Callable[[str], str]) -> str:
    """One migrated database per worker; tests share it and are isolated by cleaning."""
    url = new_database("identity_test")
    upgrade(url)
    return url


def _clean(database: Database) -> None:
    with database.transaction() as session:
        for table in reversed(metadata.sorted_tables):
            session.execute(delete(table))
        session.execute(
            insert(AuditTreeRow).values(
                id=1, size=0, root_hash=EMPTY_TREE_HASH, updated_at=utcnow()
            )
        )
        session.execute(insert(ConsentFeedHead).values(id=1, seq=0))


@pytest.fixture
def database_url(migrated_url: str) -> str:
    database = Database(migrated_url, pool=False)
    try:
        _clean(database)
    finally:
        database.dispose()
    return migrated_url


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Factory for settings of a test instance; cheap argon2 parameters keep the suite fast."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": Environment.test,
            "database_url": database_url,
            "secret_key": TEST_SECRET,
            "issuer": "http://testserver",
            "var_dir": tmp_path / "var",
            "mail_backend": MailBackend.file,
            "argon2_time_cost": 1,
            "argon2_memory_cost": 1024,
            "argon2_parallelism": 1,
            "outbox_worker": False,  # tests deliver explicitly with runtime.outbox.deliver_due()
            "keys_cache_ttl": 0,
            # The tests' HTTP receivers listen on loopback (production allows none).
            "webhook_allowed_networks": "127.0.0.1/32",
            # Tests place entries in the log explicitly (runtime.sequencer.drain()).
            "audit_sequencer": False,
            # Tests run due erasures explicitly (runtime.dsr.run_due()).
            "dsr_worker": False,
            # Tests run housekeeping passes explicitly (runtime.operations.housekeeping).
            "housekeeping": False,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(settings)
    yield rt
    rt.close()


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Any:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.oidc_fixtures",
    "tests.support.consent_fixtures",
    "tests.support.linking_fixtures",
    "tests.support.receiver",
    "tests.support.tlogcheck",
    "tests.support.dsr_fixtures",
    "tests.support.cli",
]
