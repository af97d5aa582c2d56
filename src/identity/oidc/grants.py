"""Authlib grant classes wired to our storage, and the PKCE and OpenID Connect extensions.

Each hook delegates to :class:`~identity.oidc.store.GrantStore` with the request's database
session (``request.db``, set by the adapter), so a whole token request is one transaction.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from identity.crypto import token_digest
from identity.db import utcnow
from identity.oidc.clients import Client
from identity.oidc.models import UsedClientAssertion
from identity.oidc.redemption import Redeemed
from identity.oidc.registration import AUTH_METHODS
from identity.oidc.rules import basic_credentials, scopes_of
from identity.oidc.store import CodeView, RefreshView
from identity.oidc.tokens import Principal

if TYPE_CHECKING:
    from identity.oidc.server import Provider

CONFIDENTIAL_METHODS = [m for m in AUTH_METHODS if m != "none"]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is not one this client may get tokens for."""

    error = "invalid_target"


def requested_resource(grant: Any) -> str | None:
    """The RFC 8707 ``resource`` parameter, refused unless registered for the client."""
    values = grant.request.payload.datalist.get("resource", [])
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTargetError("Only one 'resource' per request is supported.")
    client: Client = grant.request.client
    if values[0] not in client.resources:
        raise InvalidTargetError("The resource is not registered for this client.")
    return str(values[0])


class _Issuing:
    """Token issuance shared by the grants: our generator instead of Authlib's registry, so
    the token can carry the grant's context (pairwise subject, resource, session)."""

    server: Provider
    request: Any

    def generate_token(
        self,
        user: Principal | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return self.server.issue_tokens(
            client=self.request.client,
            principal=user,
            scope=scope or "",
            resource=getattr(self.request, "resource", None),
            include_refresh_token=include_refresh_token,
        )


class S256CodeChallenge(CodeChallenge):
    """PKCE is required for every client and only S256 is accepted (RFC 9700 §2.1.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'."
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier' (PKCE is required).")
        super().validate_code_verifier(grant, result)


class OpenIDCode(oidc_grants.OpenIDCode):
    """ID tokens for the code flow. Claims come from the grant (``request.user`` is a
    :class:`Principal`); profile claims are served by userinfo, not put in the ID token,
    which travels through more hands (OpenID Connect Core §5.4)."""

    def __init__(self, server: Provider) -> None:
        super().__init__(require_nonce=False)
        self.server = server
        self.DEFAULT_EXPIRES_IN = int(server.settings.id_token_ttl.total_seconds())

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # The nonce binds the ID token to the RP's session; the RP checks it. Codes are
        # single-use, so the provider need not remember nonces.
        return False

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = self.server.keys.signing_key(client.id_token_alg)
        return {"alg": client.id_token_alg, "kid": key.kid}

    def resolve_client_private_key(self, client: Client) -> KeySet:
        # The header names the kid; handing over the set lets joserfc pick exactly that key.
        return self.server.keys.private_keyset()

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.server.settings.issuer, "aud": client.client_id}

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        claims = super().get_compatible_claims(request)
        principal: Principal = request.user
        claims["auth_time"] = int(principal.auth_time.timestamp())
        if principal.sid:
            claims["sid"] = self.server.subjects.sid_for_client(request.client, principal.sid)
        if principal.amr:
            claims["amr"] = list(principal.amr)
        if principal.acr:
            claims["acr"] = principal.acr
        return claims

    def generate_user_info(self, user: Principal, scope: str) -> dict[str, Any]:
        return {"sub": user.sub}


class OpenIDRefresh(OpenIDCode):
    """A fresh ID token with each refresh (OpenID Connect Core §12.2)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)


class AuthorizationCodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        # Authlib names the refused URI in the error text, and its errors refuse (ValueError)
        # a text with a quote, a backslash or non-ASCII: that was a 500 on crafted input. The
        # text need not repeat what the client sent anyway.
        redirect_uri = request.payload.redirect_uri
        if redirect_uri and not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        authlib = grants.AuthorizationCodeGrant  # the rest (no redirect_uri at all) as it has it
        return str(authlib.validate_authorization_redirect_uri(request, client))

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        # Both are kept with the grant and the code, in columns of 255 characters, and
        # PostgreSQL text cannot hold a NUL: refuse what cannot be kept rather than fail
        # to keep it (a 500 there; SQLite kept either without complaint).
        data = self.request.payload.data
        for name in ("nonce", "acr_values"):
            value = data.get(name)
            if value is not None and (len(value) > 255 or "\x00" in value):
                raise InvalidRequestError(f"Invalid '{name}'.", redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        self.server.save_authorization_code(code, request)

    def query_authorization_code(self, code: str, client: Client) -> CodeView | None:
        return self.server.store.redeemable_code(self.request.db, code, client)

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        # Authlib's last step of a redemption that issued tokens (PKCE verified before).
        self.server.store.mark_code_used(self.request.db, authorization_code.digest)
        if authorization_code.anon_id:
            self.request.redeemed = Redeemed(
                self.request.client, self.request.user.user_id, authorization_code.anon_id
            )

    def authenticate_user(self, authorization_code: CodeView) -> Principal | None:
        principal = self.server.store.principal(
            self.request.db, self.request.client, authorization_code.grant_id
        )
        if principal is not None and self.request.resource is None:
            self.request.resource = principal.resource
        return principal

    def validate_token_request(self) -> None:
        super().validate_token_request()
        self.request.resource = requested_resource(self)


class RefreshTokenGrant(_Issuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshView | None:
        token = self.server.store.usable_refresh_token(self.request.db, refresh_token)
        if token is None:
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.")
        return token

    def authenticate_user(self, refresh_token: RefreshView) -> Principal | None:
        principal = self.server.store.principal(
            self.request.db, self.request.client, refresh_token.grant_id
        )
        if principal is None:  # the account is gone or disabled: the grant is (RFC 6749 §5.2)
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.")
        return principal

    def revoke_old_credential(self, refresh_token: RefreshView) -> None:
        self.server.store.rotate_refresh_token(self.request.db, refresh_token.digest)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        self.request.resource = requested_resource(self)


class ClientCredentialsGrant(_Issuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        requested = scopes_of(self.request.payload.scope)
        if any(s not in scopes_of(client.scope) for s in requested):
            raise InvalidScopeError("The client may not request that scope.")
        self.request.resource = requested_resource(self)

    def generate_token(self, user: Any = None, scope: str | None = None, **kwargs: Any) -> Any:
        return super().generate_token(user=None, scope=scope or self.request.client.scope, **kwargs)


def client_secret_basic(query_client: Any, request: Any) -> Client | None:
    """``client_secret_basic`` in place of Authlib's, whose header parsing raises (a 500) on
    ``Basic`` with nothing after it, a non-ASCII value or credentials that are not UTF-8.
    A malformed header authenticates nobody; an unknown client is a 401 as in Authlib."""
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None or not all(credentials):
        return None
    client_id, secret = credentials
    client: Client | None = query_client(client_id)
    if client is None:
        raise InvalidClientError("The client does not exist on this server.", status_code=401)
    return client if client.check_client_secret(secret) else None


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication (OpenID Connect Core §9, RFC 7523)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: Provider) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.server = server
        self._local = threading.local()

    def get_audiences(self) -> list[str]:
        issuer = self.server.settings.issuer
        return [issuer, f"{issuer}/token"]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        # Authlib checks the client's method only after the signature, so an assertion naming
        # a client that uses a secret reached the key lookup for a client without keys (a 500).
        # RFC 7523 §3.2, RFC 6749 §5.2: that client is simply not authenticated.
        if client.auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError("The client does not authenticate with private_key_jwt.")
        return client.public_keys()

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        # As Authlib's, but with a fixed error text: Authlib copies joserfc's, which repeats
        # an unknown ``kid``, and refuses (ValueError, a 500) a text with a quote or non-ASCII.
        try:
            token = jwt.decode(assertion, resolve_key)
        except JoseError as exc:
            raise InvalidClientError("The client assertion could not be verified.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def __call__(self, query_client: Any, request: Any) -> Any:
        # validate_jti() gets no request from Authlib; it needs the request's transaction.
        self._local.request = request
        try:
            return super().__call__(query_client, request)
        finally:
            self._local.request = None

    def validate_jti(self, claims: Any, jti: str) -> bool:
        """Each assertion is accepted once: its ``jti`` is remembered until it expires."""
        session = self._local.request.db
        digest = token_digest(f"{claims['sub']}\x00{jti}")
        try:
            with session.begin_nested():
                session.add(UsedClientAssertion(digest=digest, expires_at=_expiry(claims)))
        except IntegrityError:
            return False
        return True


def _expiry(claims: Any) -> datetime:
    exp = claims.get("exp")
    if isinstance(exp, int | float):
        return datetime.fromtimestamp(exp, UTC) + timedelta(seconds=60)
    return utcnow() + timedelta(hours=1)
