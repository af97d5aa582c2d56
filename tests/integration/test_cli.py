"""The ``identity`` command as an operator uses it: a real process, real environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow

SECRET = "cli-test-secret-key-0123456789-abcdefghij"


@pytest.fixture
def run(database_url, tmp_path):
    def run(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "IDENTITY_DATABASE_URL": database_url,
            "IDENTITY_SECRET_KEY": SECRET,
            "IDENTITY_VAR_DIR": str(tmp_path / "var"),
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_MEMORY_COST": "1024",
            "IDENTITY_ARGON2_PARALLELISM": "1",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "identity", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )

    return run


def test_users_create_prints_json_with_the_sub(run, runtime):
    result = run(
        "users",
        "create",
        "--email",
        "Op@Example.com",
        "--password-stdin",
        "--name",
        "Op",
        "--locale",
        "es",
        "--verified",
        stdin="a long enough password\n",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["email"] == "op@example.com"
    assert printed["verified"] is True
    with runtime.db.read() as session:
        user = session.scalars(select(User)).one()
    assert printed["sub"] == user.sub
    assert user.locale == "es"
    assert "a long enough password" not in result.stdout + result.stderr


def test_users_create_refuses_a_weak_password_or_a_duplicate(run):
    weak = run("users", "create", "--email", "a@example.com", "--password-stdin", stdin="short\n")
    assert weak.returncode != 0
    assert "password_too_short" in weak.stderr
    ok = run(
        "users",
        "create",
        "--email",
        "a@example.com",
        "--password-stdin",
        stdin="long enough pw 1\n",
    )
    assert ok.returncode == 0
    dup = run(
        "users",
        "create",
        "--email",
        "A@example.com",
        "--password-stdin",
        stdin="long enough pw 1\n",
    )
    assert dup.returncode != 0
    assert "already exists" in dup.stderr


def test_demo_seed_is_idempotent(run, runtime):
    assert run("demo", "seed").returncode == 0
    again = run("demo", "seed")
    assert again.returncode == 0
    assert "already there" in again.stdout
    with runtime.db.read() as session:
        assert len(session.scalars(select(User)).all()) == 2


def test_the_demo_channels_are_registered_for_the_demo_rps_own_port(run, runtime, settings):
    assert run("demo", "seed").returncode == 0
    moved = run("demo", "seed", "--rp-url", "http://127.0.0.1:8123")
    assert moved.returncode == 0, moved.stderr
    assert "store: moved to http://127.0.0.1:8123" in moved.stdout
    runtime.clients.invalidate()
    assert runtime.clients.get("store").redirect_uris == ("http://127.0.0.1:8123/store/callback",)
    market = runtime.clients.get("marketplace")
    assert market.redirect_uris == ("http://localhost:8123/marketplace/callback",)
    assert market.sector_identifier == "localhost"  # the same pairwise subjects as before
    saved = json.loads((settings.var_dir / "demo-clients.json").read_text())
    assert saved["store"]["client_secret"]  # the secret survives the move


def test_invalid_settings_stop_the_command_naming_the_variable(run):
    result = run("db", "upgrade", IDENTITY_SESSION_IDLE_TIMEOUT="soon", IDENTITY_SMTP_PORT="99999")
    assert result.returncode != 0
    assert "IDENTITY_SESSION_IDLE_TIMEOUT" in result.stderr
    assert "IDENTITY_SMTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_a_secret_key_refuses_to_start(run):
    result = run(
        "db",
        "upgrade",
        IDENTITY_ENV="production",
        IDENTITY_SECRET_KEY="",
        IDENTITY_ISSUER="https://id.example.com",
    )
    assert result.returncode != 0
    assert "IDENTITY_SECRET_KEY" in result.stderr


def test_db_upgrade_migrates_a_fresh_database(run, new_database):
    url = new_database("identity_cli_upgrade")
    result = run("db", "upgrade", IDENTITY_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "database at head" in result.stdout


def test_clients_create_prints_the_id_and_secret_once(run, runtime):
    result = run(
        "clients",
        "create",
        "--name",
        "Web store",
        "--client-id",
        "store",
        "--redirect-uri",
        "https://store.example/cb",
        "--first-party",
        "--backchannel-logout-uri",
        "https://store.example/bcl",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["client_id"] == "store"
    assert len(printed["client_secret"]) >= 40
    client = runtime.clients.get("store")
    assert client.check_client_secret(printed["client_secret"])
    assert printed["client_secret"] not in str(client.secret_digest)


def test_clients_create_refuses_unsafe_registrations(run):
    for args in (
        ["--redirect-uri", "http://store.example/cb"],
        [
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "https://b.example/cb",
            "--subject-type",
            "pairwise",
        ],
        ["--auth-method", "none", "--grant-type", "client_credentials"],
        ["--auth-method", "private_key_jwt", "--redirect-uri", "https://a.example/cb"],
    ):
        result = run("clients", "create", "--name", "Bad", *args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr


def test_keys_rotate_and_list(run):
    assert json.loads(run("keys", "list").stdout) == []  # a fresh database, server not started
    rotated = json.loads(run("keys", "rotate", "--alg", "ES256", "--activate-after", "3600").stdout)
    assert rotated["for"] == "tokens"
    listing = json.loads(run("keys", "list").stdout)
    assert {k["alg"] for k in listing} == {"RS256", "ES256"}
    new = next(k for k in listing if k["kid"] == rotated["kid"])
    assert (new["published"], new["signing"]) == (True, False)
    current = [k for k in listing if k["alg"] == "ES256" and k["signing"]]
    assert len(current) == 1


def test_keys_rotate_for_receipts_keeps_the_receipt_keys_apart(run):
    rotated = json.loads(run("keys", "rotate", "--for", "receipts", "--activate-after", "0").stdout)
    assert rotated["for"] == "receipts"
    listing = json.loads(run("keys", "list").stdout)
    receipts = [k for k in listing if k["for"] == "receipts"]
    assert {k["kid"] for k in receipts if k["signing"]} == {rotated["kid"]}
    assert all(k["published"] for k in receipts)  # the one it replaced stays published
    assert len(receipts) == 2
    assert rotated["kid"] not in {k["kid"] for k in listing if k["for"] == "tokens"}


def test_demo_seed_refuses_production(run):
    result = run(
        "demo", "seed", IDENTITY_ENV="production", IDENTITY_ISSUER="https://id.example.com"
    )
    assert result.returncode != 0
    assert "not for production" in result.stderr


def test_anonymous_expire_removes_the_state_of_ids_past_their_lifetime(run, runtime, make_client):
    from datetime import timedelta

    from identity.db import utcnow
    from identity.subjects.service import note_anonymous

    channel = make_client(client_id="kiosk").client.client_id
    issued = runtime.anonymous_ids.issue(channel, utcnow() - timedelta(days=400))
    with runtime.db.transaction() as session:
        note_anonymous(session, issued)
    result = run("anonymous", "expire")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 anonymous ids expired"
    assert run("anonymous", "expire").stdout.strip() == "0 anonymous ids expired"


def test_grant_role_makes_an_officer_and_the_grant_is_audited_with_the_operator(
    run, runtime, make_user
):
    user = make_user(email="officer@example.com")
    granted = run(
        "users",
        "grant-role",
        "--email",
        "Officer@Example.com",
        "officer",
        "--operator",
        "maria",
    )
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout) == {
        "email": "officer@example.com",
        "role": "officer",
        "changed": True,
    }
    assert runtime.accounts.has_role(user.id, "officer")
    again = run("users", "grant-role", "--email", "officer@example.com", "officer")
    assert json.loads(again.stdout)["changed"] is False
    revoked = run(
        "users",
        "revoke-role",
        "--email",
        "officer@example.com",
        "officer",
        "--operator",
        "maria",
    )
    assert json.loads(revoked.stdout)["changed"] is True
    assert not runtime.accounts.has_role(user.id, "officer")
    with runtime.db.read() as session:
        entries = session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.action.startswith("role."))
            .order_by(AuditEntryRow.id)
        ).all()
    assert [(e.action, e.actor, e.subject, e.details) for e in entries] == [
        ("role.granted", "operator:maria", f"user:{user.id}", {"role": "officer"}),
        ("role.revoked", "operator:maria", f"user:{user.id}", {"role": "officer"}),
    ]


def test_grant_role_refuses_an_unknown_account_or_role(run):
    missing = run("users", "grant-role", "--email", "nobody@example.com", "officer")
    assert missing.returncode != 0
    assert "no account" in missing.stderr
    unknown = run("users", "grant-role", "--email", "nobody@example.com", "root")
    assert unknown.returncode != 0
    assert "root" in unknown.stderr


def test_remove_second_factor_lets_an_account_that_lost_its_phone_sign_in_again(
    run, runtime, make_user, client
):
    from tests.support.fixtures import DEFAULT_PASSWORD
    from tests.support.forms import login, submit
    from tests.support.second_factor import enrol

    user = make_user(email="lost@example.com")
    login(client, user.email, DEFAULT_PASSWORD)
    enrol(client)
    submit(client, "/logout", {}, form_page="/account")
    assert login(client, user.email, DEFAULT_PASSWORD).headers["location"].startswith("/login/code")
    removed = run(
        "users", "remove-second-factor", "--email", "Lost@Example.com", "--operator", "maria"
    )
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout) == {"email": "lost@example.com", "removed": True}
    assert login(client, user.email, DEFAULT_PASSWORD).headers["location"] == "/account"
    again = run("users", "remove-second-factor", "--email", "lost@example.com")
    assert json.loads(again.stdout)["removed"] is False
    with runtime.db.read() as session:
        entry = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "mfa.removed")
        ).one()
    assert (entry.actor, entry.subject, entry.details) == (
        "operator:maria",
        f"user:{user.id}",
        {"method": "operator"},
    )
