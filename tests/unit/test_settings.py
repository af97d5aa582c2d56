"""Settings come from IDENTITY_* variables; bad values stop start-up naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from identity.settings import Environment, Settings, describe_errors


def test_development_defaults_create_a_database_path_and_a_persistent_secret(tmp_path):
    first = Settings(var_dir=tmp_path).with_development_defaults()
    second = Settings(var_dir=tmp_path).with_development_defaults()
    assert first.database_url == f"sqlite:///{(tmp_path / 'identity.db').resolve()}"
    assert first.secret == second.secret
    assert len(first.secret) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_secret_key_and_https():
    with pytest.raises(ValidationError, match="IDENTITY_SECRET_KEY is required"):
        Settings(env=Environment.production, issuer="https://id.example.com")
    with pytest.raises(ValidationError, match="IDENTITY_ISSUER must be https"):
        Settings(env=Environment.production, secret_key="k" * 40, issuer="http://id.example.com")


def test_invalid_values_are_reported_by_variable_name(monkeypatch):
    monkeypatch.setenv("IDENTITY_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("IDENTITY_ISSUER", "ftp://nope")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = describe_errors(caught.value)
    assert "IDENTITY_SMTP_PORT" in message
    assert "IDENTITY_ISSUER: must be an absolute http(s) URL" in message


def test_a_short_secret_is_refused():
    with pytest.raises(ValidationError) as caught:
        Settings(secret_key="short")
    assert "IDENTITY_SECRET_KEY" in describe_errors(caught.value)


def test_durations_accept_seconds_and_iso8601(monkeypatch):
    monkeypatch.setenv("IDENTITY_SESSION_IDLE_TIMEOUT", "PT30M")
    monkeypatch.setenv("IDENTITY_RESET_LINK_TTL", "600")
    settings = Settings()
    assert settings.session_idle_timeout.total_seconds() == 1800
    assert settings.reset_link_ttl.total_seconds() == 600


def test_the_issuer_loses_its_trailing_slash_and_decides_cookie_security():
    settings = Settings(issuer="https://id.example.com/")
    assert settings.issuer == "https://id.example.com"
    assert settings.https


def test_audit_retention_is_per_family_merged_over_the_documented_defaults(monkeypatch):
    from datetime import timedelta

    from identity.settings import AUDIT_RETENTION_DEFAULTS

    monkeypatch.setenv(
        "IDENTITY_AUDIT_RETENTION", '{"login": "P180D", "consent": "forever", "login.failed": 60}'
    )
    policy = Settings().audit_retention_policy
    assert policy["login"] == timedelta(days=180)
    assert policy["login.failed"] == timedelta(seconds=60)
    assert policy["consent"] is None  # forever
    assert policy["session"] == AUDIT_RETENTION_DEFAULTS["session"] == timedelta(days=395)
    assert policy["*"] is None  # what no family names is kept until the operator says
    assert policy["audit"] is None  # the log's own entries, always


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"audit": "P30D"}', "the log's own entries (audit.*) are kept forever"),
        ('{"audit.purged": "P30D"}', "the log's own entries (audit.*) are kept forever"),
        ('{"Login": "P30D"}', "'Login' is not an action family"),
        ('{"login.": "P30D"}', "'login.' is not an action family"),
        ('{"login": "PT0S"}', 'login: a retention must be positive, or "forever"'),
    ],
)
def test_a_retention_that_cannot_be_honoured_stops_start_up(monkeypatch, value, message):
    monkeypatch.setenv("IDENTITY_AUDIT_RETENTION", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert f"IDENTITY_AUDIT_RETENTION: {message}" in describe_errors(caught.value)
