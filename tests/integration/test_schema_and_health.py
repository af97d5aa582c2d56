"""Migrations build exactly the schema the models describe, and readiness reports on it."""

from __future__ import annotations

import hashlib

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from identity.models import metadata
from identity.schema import head_revision, upgrade


def test_upgrade_from_empty_to_head_gives_the_models_schema_without_drift(new_database):
    url = new_database("identity_migrate")
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, metadata) == []
            tables = set(inspect(connection).get_table_names())
            assert {t.name for t in metadata.sorted_tables} <= tables
            tree = connection.execute(text("SELECT size, root_hash FROM audit_tree")).one()
            assert (tree[0], bytes(tree[1])) == (0, hashlib.sha256(b"").digest())
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(new_database):
    url = new_database("identity_twice")
    upgrade(url)
    upgrade(url)


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["schema"] == head_revision()


def test_readyz_is_503_when_migrations_are_missing(make_settings, new_database):
    from starlette.testclient import TestClient

    from identity.app import create_app

    empty = new_database("identity_empty")
    with TestClient(create_app(make_settings(database_url=empty))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["expected"] == head_revision()


def test_readyz_is_503_when_the_database_is_unreachable(make_settings, backend, tmp_path):
    from starlette.testclient import TestClient

    from identity.app import create_app

    url = (
        f"sqlite:///{tmp_path}/missing-dir/db.sqlite"
        if backend == "sqlite"
        else "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    with TestClient(create_app(make_settings(database_url=url))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
        assert client.get("/healthz").status_code == 200


def test_the_api_is_described_by_openapi(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/purposes",
        "/v1/consents/{subject}/{purpose}",
        "/v1/consents:decide",
        "/v1/consents/changes",
        "/v1/me/consents",
        "/v1/webhooks",
        "/token",
        "/userinfo",
    ):
        assert path in paths, path
    decision = paths["/v1/consents/{subject}/{purpose}"]["get"]["responses"]
    assert "DecisionOut" in str(decision["200"])
    assert decision["401"]["content"] == {"application/problem+json": {}}
