"""The Authlib ``AuthorizationServer`` subclass and its Starlette request adapter.

Authlib's server side ships adapters for Flask and Django only; this module is the FastAPI
equivalent of ``authlib/integrations/flask_oauth2``: a request class built from the already
read query and form (Starlette reads bodies asynchronously, Authlib is synchronous, so routes
``await request.form()`` first and then call the server in the thread pool), and a
``handle_response`` that produces Starlette responses.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
    UnsupportedResponseTypeError,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from identity.audit.refs import Actor
from identity.db import Database, utcnow
from identity.oidc.clients import Client, ClientRegistry
from identity.oidc.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDCode,
    OpenIDRefresh,
    PrivateKeyJWT,
    RefreshTokenGrant,
    S256CodeChallenge,
    client_secret_basic,
)
from identity.oidc.keys import KeyStore
from identity.oidc.redemption import ANON_ID, RedeemedListener, kept_anon_id, tell
from identity.oidc.registration import AUTH_METHODS
from identity.oidc.rules import (
    FIRST_PARTY_SCOPES,
    SERVICE_SCOPES,
    STANDARD_SCOPES,
    issues_refresh_token,
    may_introspect,
)
from identity.oidc.store import GrantStore, RefreshView
from identity.oidc.tokens import InvalidToken, Principal, Tokens
from identity.settings import Settings
from identity.subjects.service import Subjects


class _Payload(OAuth2Payload):
    def __init__(self, values: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in values:
            self._datalist[key].append(value)
        # First value wins, as in Flask; repeated parameters are refused where it matters.
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:  # type: ignore[override]
        return self._datalist


class ProviderRequest(OAuth2Request):
    """An ``OAuth2Request`` over parameters already read from a Starlette request.

    ``uri`` is the external URL (issuer + path), so Authlib sees what the client used even
    behind a TLS-terminating proxy. ``db`` is the session of the request's transaction.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | Mapping[str, str],
        params: list[tuple[str, str]],
    ) -> None:
        # Authlib's own constructor refuses plain-http URIs unless AUTHLIB_INSECURE_TRANSPORT
        # is set for the whole process. Transport is decided once for the provider instead
        # (Settings: an https issuer in production), so this sets what that constructor sets,
        # minus the check; tests/unit/test_oidc_adapter.py holds the two together.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.redeemed = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        self.payload = _Payload(params)
        self._params = dict(self.payload.data)
        self.db: Session | None = None
        self.resource: str | None = None
        self.browser_cookie: str | None = None

    @property
    def args(self) -> dict[str, str]:
        return self._params

    @property
    def form(self) -> dict[str, str]:
        return self._params


@dataclass(frozen=True)
class Authorizing:
    """The signed-in user approving an authorization request (Authlib's ``grant_user``)."""

    user_id: uuid.UUID
    sid: str
    auth_time: datetime
    amr: str
    acr_values: str | None
    resource: str | None


def oauth_response(status: int, body: Any, headers: list[tuple[str, str]] | None) -> Response:
    header_map = dict(headers or [])
    if 300 <= status < 400 and "Location" in header_map:
        # RFC 9700 §4.11: 303 so a browser never re-posts credentials to the client.
        return Response(status_code=303, headers={**header_map, "Cache-Control": "no-store"})
    if isinstance(body, dict):
        header_map.pop("Content-Type", None)
        return JSONResponse(body, status_code=status, headers=header_map)
    return Response(body, status_code=status, headers=header_map)


@dataclass
class TokenRecord:
    """An access or refresh token as revocation and introspection see it."""

    kind: str  # access_token | refresh_token
    client_id: str
    scope: str
    claims: dict[str, Any]
    revoked: bool
    refresh: RefreshView | None = None

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def is_expired(self) -> bool:
        exp = self.claims.get("exp")
        return isinstance(exp, int) and exp <= int(utcnow().timestamp())

    def is_revoked(self) -> bool:
        return self.revoked


class _TokenLookup:
    server: Provider

    def find(self, request: ProviderRequest, client: Client) -> TokenRecord | None:
        form = request.form
        if "token" not in form:
            raise InvalidRequestError("Missing 'token'.")
        hint = form.get("token_type_hint")
        if hint and hint not in ("access_token", "refresh_token"):
            raise UnsupportedTokenTypeError()
        return self.server.find_token(request.db, form["token"])  # type: ignore[arg-type]


class Revocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009. Revoking a refresh token revokes its grant (and so the grant's access
    tokens); revoking an access token remembers its ``jti`` until it expires."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def authenticate_token(self, request: ProviderRequest, client: Client) -> TokenRecord | None:
        token = self.find(request, client)
        # RFC 7009 §2.1: a token of another client is simply not revoked, and the response
        # does not tell (answering 200 reveals nothing about other clients' tokens).
        return token if token and token.check_client(client) else None

    def revoke_token(self, token: TokenRecord, request: ProviderRequest) -> None:
        self.server.revoke(request.db, token, actor=Actor.client(token.client_id))  # type: ignore[arg-type]


class Introspection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662, for a client's own tokens and for resource servers registered for a token's
    audience (``resource_server_for``). Anything else, and any unknown, expired or revoked
    token, is inactive: the answer does not tell them apart."""

    CLIENT_AUTH_METHODS = [m for m in AUTH_METHODS if m != "none"]  # noqa: RUF012

    def authenticate_token(self, request: ProviderRequest, client: Client) -> TokenRecord | None:
        token = self.find(request, client)
        if token and self.check_permission(token, client, request):
            return token
        return None

    def check_permission(self, token: TokenRecord, client: Client, request: Any) -> bool:
        return may_introspect(
            kind=token.kind,
            token_client=token.client_id,
            audience=token.claims.get("aud"),
            caller=client.client_id,
            caller_serves=client.resource_server_for,
        )

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        claims = token.claims
        body = {
            "active": True,
            "token_type": token.kind,
            "client_id": token.client_id,
            "scope": token.scope,
            "iss": self.server.settings.issuer,
        }
        for name in ("sub", "aud", "exp", "iat", "jti", "auth_time", "acr"):
            if name in claims:
                body[name] = claims[name]
        return body


class Provider(AuthorizationServer):
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        keys: KeyStore,
        clients: ClientRegistry,
        tokens: Tokens,
        subjects: Subjects,
    ) -> None:
        super().__init__(scopes_supported=[*STANDARD_SCOPES, *FIRST_PARTY_SCOPES, *SERVICE_SCOPES])
        self.settings = settings
        self.db = db
        self.keys = keys
        self.clients = clients
        self.tokens = tokens
        self.subjects = subjects
        self.store = GrantStore(settings, subjects)
        self._redeemed_listeners: list[RedeemedListener] = []
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(self)]
        )
        self.register_grant(RefreshTokenGrant, [OpenIDRefresh(self)])
        self.register_grant(ClientCredentialsGrant)
        self.register_client_auth_method("client_secret_basic", client_secret_basic)
        self.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(self))
        self.register_endpoint(Revocation(self))
        self.register_endpoint(Introspection(self))

    # -- Authlib's integration hooks ------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def get_authorization_grant(self, request: ProviderRequest) -> Any:
        """The code flow is the only one (no implicit or hybrid). Authlib's own refusal of
        another ``response_type`` repeats it in the error text, which Authlib then refuses
        (ValueError, a 500) when it holds a quote or non-ASCII; ours says what is supported.
        As in Authlib, the error goes back to the client only if its ``redirect_uri`` is
        registered (RFC 6749 §4.1.2.1)."""
        if not AuthorizationCodeGrant.check_authorization_endpoint(request):
            client = self.query_client(request.payload.client_id)
            uri = request.payload.redirect_uri
            raise UnsupportedResponseTypeError(
                request.payload.response_type,
                "Only 'response_type=code' is supported.",
                redirect_uri=uri if client and uri and client.check_redirect_uri(uri) else None,
            )
        return super().get_authorization_grant(request)

    def save_token(self, token: dict[str, Any], request: ProviderRequest) -> None:
        refresh = token.get("refresh_token")
        principal = request.user
        if refresh and isinstance(principal, Principal):
            self.store.save_refresh_token(
                request.db,  # type: ignore[arg-type]
                token=refresh,
                grant_id=principal.grant_id,
                client_id=request.client.client_id,
                scope=token.get("scope", ""),
            )

    def create_oauth2_request(self, request: Any) -> ProviderRequest:
        if not isinstance(request, ProviderRequest):  # pragma: no cover - programming error
            raise TypeError("build a ProviderRequest in the route first")
        return request

    def create_json_request(self, request: Any) -> Any:  # pragma: no cover - not used
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return oauth_response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signals; the audit log records what matters inside the hooks."""

    # -- what the grants call back into ---------------------------------------------------

    def issue_tokens(
        self,
        *,
        client: Client,
        principal: Principal | None,
        scope: str,
        resource: str | None,
        include_refresh_token: bool,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.tokens.access_token(
                client=client, principal=principal, scope=scope, resource=resource
            ),
            "expires_in": int(self.settings.access_token_ttl.total_seconds()),
            "scope": scope,
        }
        if principal is not None and issues_refresh_token(
            first_party=client.first_party,
            client_may_refresh=include_refresh_token and client.check_grant_type("refresh_token"),
            scope=scope,
        ):
            token["refresh_token"] = self.tokens.refresh_token()
        return token

    def save_authorization_code(self, code: str, request: ProviderRequest) -> None:
        authorizing: Authorizing = request.user
        data = request.payload.data
        grant = self.store.create_grant(
            request.db,  # type: ignore[arg-type]
            client=request.client,
            user_id=authorizing.user_id,
            sid=authorizing.sid,
            scope=request.scope,
            resource=authorizing.resource,
            auth_time=authorizing.auth_time,
            amr=authorizing.amr,
            acr_values=authorizing.acr_values,
        )
        self.store.save_code(
            request.db,  # type: ignore[arg-type]
            code=code,
            grant=grant,
            redirect_uri=request.payload.redirect_uri,
            nonce=data.get("nonce"),
            code_challenge=data["code_challenge"],
            code_challenge_method=data.get("code_challenge_method", "S256"),
            anon_id=kept_anon_id(data.get(ANON_ID)),
        )

    # -- token endpoint, revocation, introspection ----------------------------------------

    def token_response(self, request: ProviderRequest) -> Response:
        # client_credentials writes nothing (unless a private_key_jwt assertion's jti must
        # be remembered): a read transaction keeps the hot path off the SQLite write lock.
        writes = (
            request.payload.grant_type != "client_credentials"
            or "client_assertion" in request.payload.data
        )
        with self.db.transaction() if writes else self.db.read() as session:
            request.db = session
            response: Response = self.create_token_response(request)
            if response.status_code == 200:
                tell(self._redeemed_listeners, session, request.redeemed)
        return response

    def on_code_redeemed(self, listener: RedeemedListener) -> None:
        """Composition root: ``listener`` hears of each code redeemed with an ``anon_id``."""
        self._redeemed_listeners.append(listener)

    def endpoint_response(self, name: str, request: ProviderRequest) -> Response:
        # Introspection only reads (unless a private_key_jwt assertion's jti must be
        # remembered): keep it off the SQLite write lock.
        reads_only = name == "introspection" and "client_assertion" not in request.payload.data
        with self.db.read() if reads_only else self.db.transaction() as session:
            request.db = session
            return self.create_endpoint_response(name, request)  # type: ignore[no-any-return]

    def find_token(self, session: Session, token: str) -> TokenRecord | None:
        if token.count(".") == 2:
            try:
                claims = self.tokens.verify_access_token(token)
            except InvalidToken:
                return None
            # A disabled or deleted client's tokens are inactive, whoever asks (its grants
            # are not revoked by disabling: enabling the client again revives them).
            revoked = (
                self.clients.get(claims["client_id"]) is None
                or self.store.access_token_revoked(session, claims["jti"])
                or not self.store.grant_is_live(session, claims.get("grant_id"))
            )
            return TokenRecord(
                "access_token", claims["client_id"], claims.get("scope", ""), claims, revoked
            )
        refresh = self.store.refresh_token_view(session, token)
        if refresh is None:
            return None
        client = self.clients.get(refresh.client_id)
        principal = self.store.principal(session, client, refresh.grant_id) if client else None
        claims: dict[str, Any] = {"sub": principal.sub} if principal else {}
        return TokenRecord(
            # Inactive too when its client is disabled or its account is (no principal).
            "refresh_token",
            refresh.client_id,
            refresh.scope,
            claims,
            principal is None,
            refresh,
        )

    def revoke(self, session: Session, token: TokenRecord, *, actor: Actor) -> None:
        if token.refresh is not None:
            self.store.revoke_grant(session, token.refresh.grant_id, "revoked_by_client", actor)
        else:
            self.store.revoke_access_token(
                session,
                token.claims["jti"],
                datetime.fromtimestamp(int(token.claims["exp"]), UTC),
            )


def form_params(pairs: Any) -> list[tuple[str, str]]:
    """Only text parameters (a file upload is not an OAuth parameter)."""
    return [(k, v) for k, v in pairs if isinstance(v, str)]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
