"""Logout that reaches every channel: RP-initiated logout 1.0 and back-channel logout 1.0.

Whenever a browser session ends, however it ends (sign-out at any channel, "sign out
everywhere else", a password reset, RP-initiated logout), :meth:`Logout.session_ended` runs in
the same transaction: grants bound to that session without ``offline_access`` are revoked,
and every client that took part in the session and registered a back-channel logout URI gets
a message in the durable outbox. The logout token is signed when it is delivered, so retries
hours later still carry a fresh ``iat``/``exp``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.models import BrowserSession
from identity.oidc.clients import Client, ClientRegistry
from identity.oidc.models import Grant
from identity.oidc.rules import scopes_of
from identity.oidc.store import GrantStore
from identity.oidc.subjects import Subjects
from identity.oidc.tokens import InvalidToken, Tokens
from identity.outbox.models import OutboxMessage
from identity.outbox.service import Outbox, Rendered

BACKCHANNEL = "backchannel_logout"


class Logout:
    def __init__(
        self,
        *,
        clients: ClientRegistry,
        store: GrantStore,
        subjects: Subjects,
        tokens: Tokens,
        outbox: Outbox,
    ) -> None:
        self._clients = clients
        self._store = store
        self._subjects = subjects
        self._tokens = tokens
        self._outbox = outbox
        outbox.register(BACKCHANNEL, self._render)

    def session_ended(self, session: Session, ended: BrowserSession, reason: str) -> None:
        grants = session.scalars(
            select(Grant).where(Grant.sid == ended.sid, Grant.revoked_at.is_(None))
        ).all()
        notified: set[str] = set()
        for grant in grants:
            if "offline_access" not in scopes_of(grant.scope):
                self._store.revoke_grant(session, grant.id, f"logout:{reason}", actor="system")
            client = self._clients.get(grant.client_id)
            if client is None or not client.backchannel_logout_uri or client.client_id in notified:
                continue
            notified.add(client.client_id)
            self._notify(session, client, grant.user_id, ended.sid)

    def client_access_removed(self, session: Session, grant: Grant) -> None:
        """The customer removed a client's access: tell that client to end its session."""
        client = self._clients.get(grant.client_id)
        if client is not None and client.backchannel_logout_uri:
            self._notify(session, client, grant.user_id, grant.sid)

    def _notify(
        self, session: Session, client: Client, user_id: uuid.UUID, sid: str | None
    ) -> None:
        """Queue a logout token for ``client``, naming the user and session as it knows them."""
        assert client.backchannel_logout_uri is not None
        self._outbox.enqueue(
            session,
            kind=BACKCHANNEL,
            owner=client.client_id,
            target_url=client.backchannel_logout_uri,
            payload={
                "client_id": client.client_id,
                "sub": self._subjects.for_client(session, client, user_id),
                "sid": self._subjects.sid_for_client(client, sid) if sid else None,
            },
            content_type="application/x-www-form-urlencoded",
        )

    def _render(self, message: OutboxMessage) -> Rendered:
        payload = json.loads(message.body)
        client = self._clients.get(payload["client_id"])
        if client is None:
            raise LookupError(f"client {payload['client_id']} no longer exists")
        token = self._tokens.logout_token(client=client, sub=payload["sub"], sid=payload["sid"])
        return Rendered(
            urlencode({"logout_token": token}).encode(),
            "application/x-www-form-urlencoded",
            {},
        )


class EndSession(EndSessionEndpoint):
    """Authlib's RP-initiated logout endpoint over our keys and sessions.

    Without a valid ``id_token_hint`` the user confirms on a page first; a registered
    ``post_logout_redirect_uri`` (exact match, with ``client_id``) is then followed, because
    the user's confirmation and the registration together establish its legitimacy.
    """

    def __init__(self, server: Any, end: Any) -> None:
        super().__init__(server)
        self._end = end

    def get_server_jwks(self) -> dict[str, Any]:
        return self.server.keys.jwks()  # type: ignore[no-any-return]

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        # Authlib's check puts joserfc's error text in the error description; for an unknown
        # ``kid`` that text repeats the kid, and a quote or non-ASCII in it made Authlib raise
        # ValueError (a 500). The check /authorize makes serves here too: our signature, our
        # issuer, an ID token (expired is fine, RP-Initiated Logout §2).
        try:
            return self.server.tokens.verify_id_token(id_token_hint)  # type: ignore[no-any-return]
        except InvalidToken as exc:
            raise InvalidRequestError("Invalid 'id_token_hint'.") from exc

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: Any
    ) -> bool:
        return bool(getattr(request, "confirmed", False))

    def end_session(self, end_session_request: Any) -> None:
        self._end(end_session_request)
