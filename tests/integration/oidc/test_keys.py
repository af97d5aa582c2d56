"""Signing keys: rotation with overlap, encryption at rest, kid on every token."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from identity.oidc.models import SigningKey
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD

EMAIL = "ana@example.com"


def kids(browser) -> set[str]:
    return {k["kid"] for k in browser.get("/jwks").json()["keys"]}


def header_kid(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def test_rotation_publishes_at_once_signs_after_the_delay_and_retires_after_expiry(
    store, shopper, runtime, settings, clock
):
    before = store.tokens(EMAIL, PASSWORD)
    old_kid = header_kid(before["id_token"])
    new = runtime.keys.rotate("RS256")
    # Published immediately, not yet signing.
    assert new.kid in kids(store.browser)
    clock.tick(settings.key_activation_delay - timedelta(minutes=1))
    during = store.refresh(before["refresh_token"]).json()
    assert header_kid(during["access_token"]) == old_kid
    # After the delay the new key signs; tokens of the old key still verify.
    clock.tick(timedelta(minutes=2))
    after = store.refresh(during["refresh_token"]).json()
    assert header_kid(after["access_token"]) == new.kid
    assert header_kid(after["id_token"]) == new.kid
    assert old_kid in kids(store.browser)
    store.verify(during["access_token"])  # an old-key token inside its lifetime verifies
    # Once every old-key token has expired, the old key leaves /jwks.
    clock.tick(max(settings.access_token_ttl, settings.id_token_ttl))
    assert old_kid not in kids(store.browser)
    assert new.kid in kids(store.browser)
    store.verify(store.refresh(after["refresh_token"]).json()["access_token"])


def test_a_later_rotation_with_a_shorter_delay_signs_and_the_earlier_one_never_takes_over(
    store, shopper, runtime, clock
):
    tokens = store.tokens(EMAIL, PASSWORD)
    slow = runtime.keys.rotate("RS256", delay=timedelta(hours=1))
    clock.tick(timedelta(minutes=5))
    fast = runtime.keys.rotate("RS256", delay=timedelta(minutes=10))
    clock.tick(timedelta(minutes=11))
    tokens = store.refresh(tokens["refresh_token"]).json()
    assert header_kid(tokens["access_token"]) == fast.kid
    clock.tick(timedelta(hours=1))  # the slow key's own activation time has passed
    tokens = store.refresh(tokens["refresh_token"]).json()
    assert header_kid(tokens["access_token"]) == header_kid(tokens["id_token"]) == fast.kid
    published = kids(store.browser)
    assert fast.kid in published
    assert slow.kid not in published  # it never signed: gone once the fast key took over
    store.verify(tokens["access_token"])
    listing = {k["kid"]: k for k in runtime.keys.describe()}
    assert (listing[fast.kid]["signing"], listing[slow.kid]["signing"]) == (True, False)


def test_every_token_names_its_key(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD)
    published = kids(store.browser)
    for name in ("id_token", "access_token"):
        assert header_kid(tokens[name]) in published


def test_access_tokens_follow_rfc_9068(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD, scope="openid email")
    decoded = store.verify(tokens["access_token"], aud="http://testserver", client_id="store")
    assert decoded.header["typ"] == "at+jwt"
    assert {"jti", "iat", "sub", "scope", "auth_time"} <= set(decoded.claims)
    assert decoded.claims["scope"] == "openid email"


def test_private_keys_are_encrypted_at_rest(runtime):
    runtime.keys.ensure()
    with runtime.db.read() as session:
        rows = session.scalars(select(SigningKey)).all()
    assert {r.alg for r in rows} == {"RS256", "ES256"}
    for row in rows:
        assert '"d"' not in row.private_jwk_encrypted
        assert "d" not in row.public_jwk
        assert row.private_jwk_encrypted.startswith("gAAAA")  # Fernet token


def test_rotate_refuses_unknown_algorithms(runtime):
    with pytest.raises(ValueError, match="unsupported"):
        runtime.keys.rotate("HS256")
