"""The ID token and the authorization response, forged every way a real upstream would not:
a fake upstream behind ``httpx.MockTransport`` signs what each test asks for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.runtime import Runtime
from identity.settings import Settings
from tests.support.forms import csrf_token
from tests.support.fuzz import FUZZ, mutated, value

ISSUER = "https://fake-upstream.example"
CLIENT_ID, SECRET = "our-client", "fake-upstream-client-secret-0123456789"


@dataclass
class FakeUpstream:
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    discovery_issuer: str = ISSUER
    claims: dict[str, Any] = field(default_factory=dict)
    sign_with: Any = None  # another key, an OctKey, or "none"
    header: dict[str, Any] = field(default_factory=lambda: {"alg": "RS256", "kid": "k1"})
    token_error: str | None = None
    calls: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(path)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.discovery_issuer, "authorization_endpoint": ISSUER + "/auth",
                "token_endpoint": ISSUER + "/token", "jwks_uri": ISSUER + "/jwks",
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            })  # fmt: skip
        if path == "/jwks":
            return httpx.Response(200, json=KeySet([self.key]).as_dict(private=False))
        if path == "/token":
            if self.token_error:
                return httpx.Response(400, json={"error": self.token_error})
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer",
                                             "id_token": self.id_token()})  # fmt: skip
        return httpx.Response(404)

    def id_token(self) -> str:
        if self.sign_with == "none":
            import base64

            def part(data: dict[str, Any]) -> str:
                return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

            return f"{part({'alg': 'none'})}.{part(self.claims)}."
        return jwt.encode(self.header, self.claims, self.sign_with or self.key)


@pytest.fixture
def fake() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    path = tmp_path / "upstream.json"
    path.write_text(json.dumps({"providers": {"fake": {
        "issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET,
        "display_name": "Fake"}}}))  # fmt: skip
    return make_settings(upstream_file=path)


@pytest.fixture
def upstream(runtime: Runtime, fake: FakeUpstream) -> FakeUpstream:
    runtime.upstream.client.transport = httpx.MockTransport(fake.handle)
    return fake


def begin(client: Any) -> dict[str, str]:
    token = csrf_token(client)
    started = client.post("/login/upstream/fake/start", data={"csrf_token": token})
    assert started.status_code == 303, started.text
    return {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}


def good_claims(asked: dict[str, str], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": CLIENT_ID, "sub": "fake-sub", "iat": now, "exp": now + 300,
        "nonce": asked["nonce"], "email": "fay@fake.example", "email_verified": True,
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def come_back(client: Any, asked: dict[str, str], **params: str) -> Any:
    query = {"code": "the-code", "state": asked["state"], "iss": ISSUER, **params}
    return client.get("/login/upstream/fake/callback", params=query)


def failure(runtime: Runtime) -> str | None:
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.action == "upstream.failed")
            .order_by(AuditEntryRow.id)
        ).all()
    return rows[-1]["reason"] if rows else None


def signed_in(client: Any) -> bool:
    return client.get("/account").status_code == 200


def test_the_fake_upstream_signs_in_when_nothing_is_forged(
    client: Any, runtime: Runtime, upstream: FakeUpstream
) -> None:
    asked = begin(client)
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"].endswith("/login/upstream/fake/callback")
    upstream.claims = good_claims(asked)
    assert come_back(client, asked).headers["location"] == "/account"
    assert signed_in(client)


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        ({"sign_with": "another key, same kid"}, "bad_signature"),
        ({"sign_with": "another key, unknown kid"}, "bad_signature"),
        ({"sign_with": "our client secret (HS256)"}, "bad_signature"),
        ({"sign_with": "none"}, "bad_signature"),
        ({"claims": {"aud": "someone-else"}}, "audience_mismatch"),
        ({"claims": {"iss": "https://other-upstream.example"}}, "issuer_mismatch"),
        ({"claims": {"nonce": "not-this-flows"}}, "nonce_mismatch"),
        ({"claims": {"nonce": None}}, "nonce_mismatch"),
        ({"claims": {"exp": -3600}}, "expired"),  # an hour ago
        ({"claims": {"aud": [CLIENT_ID, "another"], "azp": "another"}}, "bad_claims"),
        ({"claims": {"sub": None}}, "bad_claims"),
    ],
)
def test_a_forged_id_token_signs_nobody_in(
    client: Any, runtime: Runtime, upstream: FakeUpstream, forgery: dict[str, Any], reason: str
) -> None:
    asked = begin(client)
    changes = dict(forgery.get("claims", {}))
    if "exp" in changes:
        changes["exp"] += int(time.time())
    upstream.claims = good_claims(asked, **changes)
    how = forgery.get("sign_with")
    if how == "another key, same kid":
        upstream.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    elif how == "another key, unknown kid":
        upstream.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k9"})
        upstream.header = {"alg": "RS256", "kid": "k9"}
    elif how == "our client secret (HS256)":
        upstream.sign_with, upstream.header = OctKey.import_key(SECRET), {"alg": "HS256"}
    elif how == "none":
        upstream.sign_with = "none"
    answer = come_back(client, asked)
    assert answer.status_code == 400
    assert failure(runtime) == reason
    assert not signed_in(client)
    assert upstream.calls.count("/jwks") <= 2  # an unknown kid looks once more, no more


def test_a_response_naming_another_issuer_is_a_mix_up_and_is_not_redeemed(
    client: Any, runtime: Runtime, upstream: FakeUpstream
) -> None:
    asked = begin(client)
    upstream.claims = good_claims(asked)
    answer = come_back(client, asked, iss="https://attacker.example")
    assert answer.status_code == 400
    assert failure(runtime) == "issuer_mismatch"
    assert "/token" not in upstream.calls  # the code never went anywhere


def test_a_response_without_the_iss_it_promised_is_refused(
    client: Any, runtime: Runtime, upstream: FakeUpstream
) -> None:
    asked = begin(client)
    upstream.claims = good_claims(asked)
    answer = client.get(
        "/login/upstream/fake/callback", params={"code": "c", "state": asked["state"]}
    )
    assert answer.status_code == 400
    assert failure(runtime) == "issuer_missing"


def test_a_refused_code_is_a_page(client: Any, runtime: Runtime, upstream: FakeUpstream) -> None:
    asked = begin(client)
    upstream.token_error = "invalid_grant"
    assert come_back(client, asked).status_code == 400
    assert failure(runtime) == "token_refused"


def test_a_discovery_document_for_another_issuer_is_not_used(
    client: Any, runtime: Runtime, upstream: FakeUpstream
) -> None:
    upstream.discovery_issuer = "https://attacker.example"
    token = csrf_token(client)
    answer = client.post("/login/upstream/fake/start", data={"csrf_token": token})
    assert answer.status_code == 400
    assert failure(runtime) == "bad_discovery"


def test_an_unreachable_upstream_is_a_page_not_a_500(client: Any, runtime: Runtime) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    runtime.upstream.client.transport = httpx.MockTransport(down)
    token = csrf_token(client)
    answer = client.post("/login/upstream/fake/start", data={"csrf_token": token})
    assert answer.status_code == 400
    assert "Something went wrong" in answer.text
    assert failure(runtime) == "upstream_unreachable"


@FUZZ
@given(data=st.data())
def test_whatever_the_callback_carries_the_answer_is_a_page(
    client: Any, runtime: Runtime, upstream: FakeUpstream, data: st.DataObject
) -> None:
    asked = begin(client)
    upstream.claims = good_claims(asked)
    base = [("code", "the-code"), ("state", asked["state"]), ("iss", ISSUER)]
    pairs = data.draw(
        mutated(
            base,
            {
                "code": value("the-code"),
                "state": value(asked["state"]),
                "iss": value(ISSUER),
                "error": value("access_denied"),
            },
        )
    )
    key = data.draw(value("fake"))
    answer = client.get(f"/login/upstream/{quote(key, safe='')}/callback", params=pairs)
    assert answer.status_code < 500
