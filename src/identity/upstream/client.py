"""Talking to an upstream OpenID provider: discovery, the authorization URL, the code
exchange and the ID token's checks. Authlib does OAuth, joserfc does JOSE; this module only
feeds them the upstream's metadata and keys.

Discovery documents and key sets are cached per issuer for ``upstream_metadata_ttl``; a token
signed with a key id the cache does not know fetches the key set again (the upstream rotated
its keys), at most once a minute per issuer so forged key ids cannot make us hammer it. Every
request has a timeout, so a slow upstream costs one sign-in, not a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx  # the httpx Authlib's client is built on (pyproject: httpx2)
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from identity.upstream.config import UpstreamProvider
from identity.upstream.rules import discovery_problem

# What an ID token may be signed with: asymmetric algorithms only (an HS256 token would be
# "signed" with our own client secret, which the upstream's key set cannot vouch for).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                       "EdDSA", "Ed25519")  # fmt: skip
CLOCK_LEEWAY = 60  # seconds of clock difference tolerated on exp/iat/nbf
JWKS_REFRESH_MIN_INTERVAL = 60.0


class UpstreamProblem(Exception):
    """The upstream could not be used for this sign-in; ``reason`` is the audited code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    iss_parameter: bool  # RFC 9207: the upstream always names itself in its responses


@dataclass
class _Cached:
    value: Any
    fetched_at: float


class UpstreamClient:
    def __init__(
        self,
        *,
        timeout: float,
        metadata_ttl: float,
        allow_loopback_http: bool,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._ttl = metadata_ttl
        self._allow = allow_loopback_http
        self.transport = transport  # tests put an httpx.MockTransport here
        self._lock = threading.Lock()
        self._metadata: dict[str, _Cached] = {}
        self._jwks: dict[str, _Cached] = {}

    # -- metadata ------------------------------------------------------------------------

    def _get_json(self, url: str) -> Mapping[str, Any]:
        try:
            with httpx.Client(timeout=self._timeout, transport=self.transport) as http:
                answer = http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamProblem("upstream_unreachable", type(exc).__name__) from exc
        if answer.status_code != 200:
            raise UpstreamProblem("upstream_unreachable", f"HTTP {answer.status_code}")
        try:
            data = answer.json()
        except ValueError as exc:
            raise UpstreamProblem("upstream_unreachable", "not JSON") from exc
        if not isinstance(data, dict):
            raise UpstreamProblem("upstream_unreachable", "not a JSON object")
        return data

    def metadata(self, provider: UpstreamProvider) -> Metadata:
        """The issuer's discovery document (OIDC Discovery 1.0), checked and cached."""
        cached = self._metadata.get(provider.issuer)
        if cached is not None and time.monotonic() - cached.fetched_at < self._ttl:
            return cached.value  # type: ignore[no-any-return]
        document = self._get_json(provider.issuer + "/.well-known/openid-configuration")
        problem = discovery_problem(document, provider.issuer, allow_loopback_http=self._allow)
        if problem:
            raise UpstreamProblem("bad_discovery", problem)
        metadata = Metadata(
            issuer=provider.issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            iss_parameter=document.get("authorization_response_iss_parameter_supported") is True,
        )
        with self._lock:
            self._metadata[provider.issuer] = _Cached(metadata, time.monotonic())
        return metadata

    def _key_set(self, metadata: Metadata, *, refresh: bool) -> KeySet:
        cached = self._jwks.get(metadata.issuer)
        now = time.monotonic()
        fresh = cached is not None and now - cached.fetched_at < self._ttl
        if cached is not None and (
            (not refresh and fresh) or now - cached.fetched_at < JWKS_REFRESH_MIN_INTERVAL
        ):
            return cached.value  # type: ignore[no-any-return]
        try:
            keys = KeySet.import_key_set(self._get_json(metadata.jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise UpstreamProblem("bad_jwks", type(exc).__name__) from exc
        with self._lock:
            self._jwks[metadata.issuer] = _Cached(keys, now)
        return keys

    # -- the flow ------------------------------------------------------------------------

    def _oauth(self, provider: UpstreamProvider, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            scope=" ".join(provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._timeout,
            transport=self.transport,
        )

    def authorization_url(
        self,
        provider: UpstreamProvider,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
        locale: str,
    ) -> str:
        """Where to send the browser: a code request with PKCE S256, state and nonce."""
        metadata = self.metadata(provider)
        with self._oauth(provider, redirect_uri) as oauth:
            url, _ = oauth.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                ui_locales=locale,
            )
        return str(url)

    def redeem(
        self, provider: UpstreamProvider, *, redirect_uri: str, code: str, code_verifier: str
    ) -> str:
        """Exchange the code (with the PKCE verifier) for tokens; returns the ID token."""
        metadata = self.metadata(provider)
        try:
            with self._oauth(provider, redirect_uri) as oauth:
                token = oauth.fetch_token(
                    metadata.token_endpoint, code=code, code_verifier=code_verifier
                )
        except (OAuthError, OAuth2Error) as exc:  # the upstream's RFC 6749 §5.2 error
            raise UpstreamProblem("token_refused", str(exc.error)) from exc
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:  # not JSON, cut off
            raise UpstreamProblem("token_failed", type(exc).__name__) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamProblem("no_id_token")
        return id_token

    def id_token_claims(
        self, provider: UpstreamProvider, id_token: str, *, nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims after OIDC Core §3.1.3.7: signature by a key of the
        upstream's key set, ``iss`` exactly the configured issuer, ``aud`` our client id,
        ``exp`` in the future, ``nonce`` the one this browser's flow sent."""
        metadata = self.metadata(provider)
        token = self._verified(metadata, id_token)
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise UpstreamProblem(_claim_reason(exc), str(exc)) from exc
        return dict(token.claims)

    def _verified(self, metadata: Metadata, id_token: str) -> jwt.Token:
        for refresh in (False, True):
            keys = self._key_set(metadata, refresh=refresh)
            try:
                return jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
            except JoseError as exc:
                if refresh or not _maybe_new_key(exc):
                    raise UpstreamProblem("bad_signature", type(exc).__name__) from exc
            except (ValueError, TypeError) as exc:
                if refresh:
                    raise UpstreamProblem("bad_signature", type(exc).__name__) from exc
        raise AssertionError("unreachable")


def _maybe_new_key(exc: Exception) -> bool:
    """A key id we do not know, or a signature our keys do not verify: worth one fresh
    look at the key set."""
    return type(exc).__name__ in ("InvalidKeyIdError", "BadSignatureError", "MissingKeyError")


def _claim_reason(exc: Exception) -> str:
    text = str(exc)
    for claim, reason in (("nonce", "nonce_mismatch"), ("aud", "audience_mismatch"),
                          ("iss", "issuer_mismatch"), ("exp", "expired")):  # fmt: skip
        if f"'{claim}'" in text or f'"{claim}"' in text or claim in text.split():
            return reason
    return "expired" if type(exc).__name__ == "ExpiredTokenError" else "bad_claims"
