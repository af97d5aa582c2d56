"""The external sign-in's rules, without a database or a network."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from identity.upstream.config import (
    ConfigError,
    ProviderRegistry,
    provider_from,
    read_providers,
    write_providers,
)
from identity.upstream.rules import (
    Identity,
    Outcome,
    callback_problem,
    decide,
    discovery_problem,
    endpoint_problem,
    identity_from_claims,
    may_unlink,
)

ANA = Identity("google", "g-1", "ana@example.com", True, "Ana")


def outcome(identity: Identity = ANA, **facts: str | None) -> Outcome:
    values: dict[str, Any] = {"linked_to": None, "signed_in_as": None, "email_owner": None}
    values.update(facts)
    return decide(identity=identity, **values).outcome


def test_a_linked_identity_signs_in_to_its_account() -> None:
    assert outcome(linked_to="A") is Outcome.sign_in
    assert outcome(linked_to="A", signed_in_as="A") is Outcome.sign_in


def test_a_linked_identity_never_moves_to_the_signed_in_account() -> None:
    assert outcome(linked_to="A", signed_in_as="B") is Outcome.refuse_already_linked


def test_a_signed_in_shopper_is_asked_to_confirm_the_link() -> None:
    assert outcome(signed_in_as="B") is Outcome.confirm_link
    assert outcome(signed_in_as="B", email_owner="C") is Outcome.confirm_link


def test_an_address_that_has_an_account_never_links_by_itself() -> None:
    decision = decide(linked_to=None, signed_in_as=None, email_owner="V", identity=ANA)
    assert (decision.outcome, decision.user_id) == (Outcome.prove_account, "V")
    unverified = replace(ANA, email_verified=False)
    assert outcome(unverified, email_owner="V") is Outcome.prove_account


def test_a_new_address_makes_an_account_at_once_only_when_the_upstream_vouches_for_it() -> None:
    assert outcome() is Outcome.create
    assert outcome(replace(ANA, email_verified=False)) is Outcome.create_after_mail


def test_no_email_no_account() -> None:
    assert outcome(replace(ANA, email=None, email_verified=False)) is Outcome.refuse_no_email


def test_the_last_way_in_stays() -> None:
    assert not may_unlink(has_password=False, other_links=0)
    assert may_unlink(has_password=True, other_links=0)
    assert may_unlink(has_password=False, other_links=1)


@pytest.mark.parametrize(
    ("url", "loopback", "problem"),
    [
        ("https://accounts.google.com", False, None),
        ("http://accounts.google.com", True, "must be https"),
        ("http://127.0.0.1:9000", True, None),
        ("http://localhost:9000", True, None),
        ("http://127.0.0.1:9000", False, "must be https"),
        ("http://10.0.0.1", True, "must be https"),
        ("ftp://example.com", True, "not http(s)"),
        ("https://user:pw@example.com", False, "not an absolute URL"),
        ("/relative", False, "not an absolute URL"),
    ],
)
def test_upstreams_are_https_except_loopback_in_development(
    url: str, loopback: bool, problem: str | None
) -> None:
    assert endpoint_problem(url, allow_loopback_http=loopback) == problem


def discovery(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "issuer": "https://id.example",
        "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token",
        "jwks_uri": "https://id.example/jwks",
    }
    return {**base, **changes}


def test_a_discovery_document_must_name_the_issuer_asked_for() -> None:
    check = lambda d: discovery_problem(d, "https://id.example", allow_loopback_http=False)  # noqa: E731
    assert check(discovery()) is None
    assert check(discovery(issuer="https://evil.example")) == "issuer differs"
    assert (
        check(discovery(token_endpoint="http://id.example/token")) == "token_endpoint must be https"
    )
    assert check(discovery(jwks_uri=None)) == "jwks_uri missing"
    assert check(discovery(code_challenge_methods_supported=["plain"])) == "no PKCE S256"


def test_the_response_must_belong_to_this_browsers_flow_and_this_issuer() -> None:
    ok = {"state": "s", "code": "c", "iss": "https://id.example"}
    check = lambda p, required=True: callback_problem(  # noqa: E731
        p, expected_state="s", issuer="https://id.example", iss_required=required
    )
    assert check(ok) is None
    assert check({**ok, "state": "t"}) == "state_mismatch"
    assert check({**ok, "iss": "https://evil.example"}) == "issuer_mismatch"
    assert check({"state": "s", "code": "c"}) == "issuer_missing"
    assert check({"state": "s", "code": "c"}, required=False) is None
    assert check({**ok, "error": "access_denied"}) == "upstream_error"
    assert check({"state": "s", "iss": "https://id.example"}) == "no_code"


def test_claims_become_an_identity_with_a_normalised_address() -> None:
    identity = identity_from_claims(
        "google", {"sub": "1", "email": " Ana@Example.COM ", "email_verified": True}, "us"
    )
    assert identity == Identity("google", "1", "ana@example.com", True, "")
    loose = identity_from_claims(
        "google", {"sub": "1", "email": "a@b", "email_verified": "true"}, "us"
    )
    assert loose.email_verified is False  # only the JSON true counts


def test_a_token_for_several_audiences_must_be_issued_to_us() -> None:
    with pytest.raises(ValueError, match="azp"):
        identity_from_claims("g", {"sub": "1", "aud": ["us", "them"], "azp": "them"}, "us")
    assert identity_from_claims("g", {"sub": "1", "aud": ["us", "them"], "azp": "us"}, "us")


def entry(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "issuer": "https://accounts.google.com/", "client_id": "cid", "client_secret": "sec",
        "display_name": "Google",
    }  # fmt: skip
    return {**base, **changes}


def test_a_provider_entry_is_checked() -> None:
    provider = provider_from("google", entry(), allow_loopback_http=False)
    assert provider.issuer == "https://accounts.google.com"
    assert provider.scopes == ("openid", "email", "profile")
    with pytest.raises(ConfigError, match="must be https"):
        provider_from("google", entry(issuer="http://127.0.0.1:1"), allow_loopback_http=False)
    with pytest.raises(ConfigError, match="key"):
        provider_from("Google!", entry(), allow_loopback_http=False)
    with pytest.raises(ConfigError, match="openid"):
        provider_from("google", entry(scopes=["email"]), allow_loopback_http=False)
    with pytest.raises(ConfigError, match="client_secret"):
        provider_from("google", entry(client_secret=""), allow_loopback_http=False)


def test_the_providers_file_is_written_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "upstream.json"
    provider = provider_from("google", entry(), allow_loopback_http=False)
    write_providers(path, {"google": provider})
    assert path.stat().st_mode & 0o077 == 0
    assert read_providers(path, allow_loopback_http=False) == {"google": provider}
    assert "sec" not in str(provider.public())
    assert "sec" not in repr(provider)


def test_a_providers_file_broken_while_running_keeps_the_last_good_providers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "upstream.json"
    write_providers(path, {"google": provider_from("google", entry(), allow_loopback_http=False)})
    registry = ProviderRegistry(path, allow_loopback_http=False)
    path.write_text("{not json")
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert list(registry.all()) == ["google"]
    assert "not reloaded" in caplog.text
    with pytest.raises(ConfigError):
        ProviderRegistry(path, allow_loopback_http=False)  # at start-up it stops
