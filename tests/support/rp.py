"""A relying party for tests: drives the provider over HTTP the way a real client does, and
checks every token only against the published JWKS with joserfc (never the database)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.forms import csrf_token


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class Authorization:
    """One authorization request in flight: what the RP must remember."""

    state: str
    nonce: str
    verifier: str
    params: dict[str, str]


@dataclass
class RelyingParty:
    browser: Any  # a TestClient with the user's cookies
    client_id: str
    redirect_uri: str
    client_secret: str | None = None
    auth_method: str = "client_secret_basic"
    issuer: str = "http://testserver"
    last: Authorization | None = field(default=None, init=False)

    # -- front channel -------------------------------------------------------------------

    def authorization_params(self, **extra: str | None) -> Authorization:
        verifier, challenge = pkce_pair()
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        for key, value in extra.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        self.last = Authorization(
            params.get("state", ""), params.get("nonce", ""), verifier, params
        )
        return self.last

    def authorize(self, method: str = "GET", **extra: str | None) -> Any:
        auth = self.authorization_params(**extra)
        if method == "POST":
            return self.browser.post("/authorize", data=auth.params)
        return self.browser.get("/authorize?" + urlencode(auth.params))

    def follow_to_client(
        self,
        response: Any,
        password: str | None = None,
        email: str | None = None,
        consent: str = "allow",
    ) -> dict[str, str]:
        """Follow redirects through login and consent until the provider redirects to us."""
        for _ in range(10):
            if response.status_code in (302, 303):
                location = response.headers["location"]
                if location.startswith(self.redirect_uri.split("?")[0]) or not location.startswith(
                    "/"
                ):
                    return query_of(location)
                if location.startswith("/login"):
                    assert email, f"login required ({location})"
                    assert password, f"login required ({location})"
                    token = csrf_token(self.browser, location)
                    next_url = query_of(location).get("next", "/account")
                    response = self.browser.post(
                        "/login",
                        data={
                            "csrf_token": token,
                            "email": email,
                            "password": password,
                            "next": next_url,
                        },
                    )
                    continue
                response = self.browser.get(location)
                continue
            if response.status_code == 200 and 'action="/authorize/consent"' in response.text:
                token = _field(response.text, "csrf_token")
                interaction = _field(response.text, "interaction")
                response = self.browser.post(
                    "/authorize/consent",
                    data={"csrf_token": token, "interaction": interaction, "decision": consent},
                )
                continue
            raise AssertionError(
                f"unexpected response {response.status_code}: {response.text[:500]}"
            )
        raise AssertionError("too many redirects")

    def code(self, email: str, password: str, **extra: str | None) -> str:
        result = self.follow_to_client(self.authorize(**extra), password=password, email=email)
        assert "code" in result, result
        assert result.get("state") == self.last.state
        assert result.get("iss") == self.issuer
        return result["code"]

    # -- back channel --------------------------------------------------------------------

    def _auth(self, data: dict[str, str]) -> tuple[dict[str, str], Any]:
        if self.auth_method == "client_secret_basic":
            return data, (self.client_id, self.client_secret)
        if self.auth_method == "client_secret_post":
            return {
                **data,
                "client_id": self.client_id,
                "client_secret": self.client_secret or "",
            }, None
        return {**data, "client_id": self.client_id}, None

    def token_request(self, data: dict[str, str]) -> Any:
        body, auth = self._auth(data)
        return self.browser.post("/token", data=body, auth=auth)

    def exchange(self, code: str, verifier: str | None = None, **extra: str) -> Any:
        return self.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier if verifier is not None else self.last.verifier,
                **extra,
            }
        )

    def refresh(self, refresh_token: str, **extra: str) -> Any:
        return self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        )

    def tokens(self, email: str, password: str, **extra: str | None) -> dict[str, Any]:
        code = self.code(email, password, **extra)
        response = self.exchange(code)
        assert response.status_code == 200, response.text
        return response.json()

    # -- verification against the published keys ----------------------------------------

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(self.browser.get("/jwks").json())

    def verify(self, token: str, **claims: Any) -> jwt.Token:
        decoded = jwt.decode(token, self.jwks(), algorithms=["RS256", "ES256"])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            exp={"essential": True},
            **{k: {"essential": True, "value": v} for k, v in claims.items()},
        )
        registry.validate(decoded.claims)
        return decoded

    def verify_id_token(self, token: str) -> dict[str, Any]:
        decoded = self.verify(token, aud=self.client_id)
        assert decoded.header.get("kid"), "kid on every token"
        if self.last and self.last.params.get("nonce"):
            assert decoded.claims["nonce"] == self.last.nonce
        return dict(decoded.claims)


def _field(html: str, name: str) -> str:
    import re
    from html import unescape

    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return unescape(match.group(1))
