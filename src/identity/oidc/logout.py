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
import secrets
import uuid
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.models import BrowserSession
from identity.audit.refs import SYSTEM, Actor
from identity.context import CurrentSession
from identity.oidc.clients import Client, ClientRegistry
from identity.oidc.models import Grant
from identity.oidc.rules import scopes_of
from identity.oidc.store import GrantStore
from identity.oidc.tokens import InvalidToken, NotAnIdToken, Tokens
from identity.outbox.models import OutboxMessage
from identity.outbox.service import Outbox, Rendered
from identity.subjects.service import Subjects

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

    def session_ended(self, session: Session, ended: BrowserSession, reason: str) -> None:
        grants = session.scalars(
            select(Grant).where(Grant.sid == ended.sid, Grant.revoked_at.is_(None))
        ).all()
        notified: set[str] = set()
        for grant in grants:
            if "offline_access" not in scopes_of(grant.scope):
                self._store.revoke_grant(session, grant.id, f"logout:{reason}", actor=SYSTEM)
            client = self._clients.get(grant.client_id)
            if client is None or not client.backchannel_logout_uri or client.client_id in notified:
                continue
            notified.add(client.client_id)
            self._notify(session, client, grant.user_id, ended.sid)

    def account_erased(
        self, session: Session, user_id: uuid.UUID, sids: Collection[str], actor: Actor
    ) -> int:
        """The account is being erased (in this transaction): every grant it holds is
        revoked, and each client with a grant still live or bound to one of the account's
        browser sessions (``sids``) is sent one back-channel logout per session it took part
        in. Called before the account's rows go (the pairwise ``sub`` is still known).
        Returns how many logouts were queued."""
        grants = session.scalars(
            select(Grant).where(Grant.user_id == user_id).order_by(Grant.created_at)
        ).all()
        notified: set[tuple[str, str | None]] = set()
        for grant in grants:
            live = grant.revoked_at is None
            if live:
                self._store.revoke_grant(session, grant.id, "account_erased", actor=actor)
            if not live and grant.sid not in sids:
                continue  # ended earlier, and its client was told then
            client = self._clients.get(grant.client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            if (client.client_id, grant.sid) not in notified:
                notified.add((client.client_id, grant.sid))
                self._notify(session, client, user_id, grant.sid)
        return len(notified)

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

    def render(self, message: OutboxMessage) -> Rendered:
        """The outbox renderer of back-channel logout messages: signed at delivery."""
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


_UNKNOWN: Any = object()


def audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]


def hint_names_session(claims: Mapping[str, Any], *, sub: str, sid: str) -> bool:
    """Whether an ID token's ``sub`` and ``sid`` are this session's, as its client sees them.

    An ID token of another user, or of an earlier session of the same user, does not
    vouch for ending this one (RP-Initiated Logout 1.0 §2: such a request is suspect)."""
    hinted_sub, hinted_sid = claims.get("sub"), claims.get("sid")
    if not isinstance(hinted_sub, str) or not isinstance(hinted_sid, str):
        return False
    return secrets.compare_digest(hinted_sub, sub) and secrets.compare_digest(hinted_sid, sid)


class EndSession(EndSessionEndpoint):
    """Authlib's RP-initiated logout endpoint over our keys and sessions.

    The browser is signed out without a question only for an ``id_token_hint`` that is an ID
    token we issued (not an access or logout token; a consent receipt, signed with a receipt
    key, does not even pass the signature check), whose ``aud``
    includes ``client_id`` when one is given, and whose ``sub`` and ``sid`` name this
    browser's session as that client knows it (pairwise clients see their own values). Any
    other hint we signed is not used (§4: information that fails validation MUST NOT be
    used): the user confirms on a page, as without a hint. A hint we did not sign is an
    error. Without a session there is nothing to end, and a genuine ID token for the client
    still vouches for its registered ``post_logout_redirect_uri``.

    After a confirmation a registered ``post_logout_redirect_uri`` (exact match, with
    ``client_id``) is followed: the user's confirmation and the registration together
    establish its legitimacy.

    ``validate_request`` replaces Authlib's, which takes any JWT signed by a published key
    as proof of the RP and of the user's intent, and answers a mismatched ``client_id`` with
    an error rather than a question. ``create_response`` (ending the session, redirecting) is
    Authlib's. Hints are verified against every token key we hold, not only the published
    ones (``Tokens.verify_id_token``): an ID token is still a good hint long after it, and
    its key's time in ``/jwks``, expired.
    """

    def __init__(self, server: Any, end: Any) -> None:
        super().__init__(server)
        self._end = end

    def get_server_jwks(self) -> KeySet:  # pragma: no cover - validate_request is ours
        return self.server.keys.held_keyset()  # type: ignore[no-any-return]

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def validate_request(self, request: Any) -> EndSessionRequest:
        data = request.payload.data
        client_id = data.get("client_id")
        hint = data.get("id_token_hint")
        claims = self._accepted_hint(request, hint, client_id) if hint else None
        if client_id:
            client = self.server.query_client(client_id)
        elif claims is not None:
            client = self.server.query_client(audiences(claims)[0])
        else:
            client = None
        # §3: only an exactly registered URI, and only when the RP or the user vouched for it.
        redirect_uri = None
        asked = data.get("post_logout_redirect_uri")
        if (
            asked
            and client is not None
            and asked in client.post_logout_redirect_uris
            and (
                claims is not None
                or self.is_post_logout_redirect_uri_legitimate(
                    request, asked, client, data.get("logout_hint")
                )
            )
        ):
            state = data.get("state")
            redirect_uri = add_params_to_uri(asked, {"state": state}) if state else asked
        return EndSessionRequest(
            request=request,
            client=client,
            id_token_claims=claims,
            redirect_uri=redirect_uri,
            logout_hint=data.get("logout_hint"),
            ui_locales=data.get("ui_locales"),
        )

    def _accepted_hint(
        self, request: Any, hint: str, client_id: str | None
    ) -> dict[str, Any] | None:
        """The hint's claims when it vouches for signing this browser out, else None."""
        tokens: Tokens = self.server.tokens
        try:
            claims = tokens.verify_id_token(hint)
        except NotAnIdToken:
            return None
        except InvalidToken as exc:
            raise InvalidRequestError("Invalid 'id_token_hint'.") from exc
        aud = audiences(claims)
        client = self.server.query_client(client_id or (aud[0] if len(aud) == 1 else None))
        if client is None or client.client_id not in aud:
            return None
        # The route puts the browser's session on the request; without it, fail closed.
        current: CurrentSession | None = getattr(request, "current_session", _UNKNOWN)
        if current is _UNKNOWN:
            return None
        if current is None:
            return claims
        subjects: Subjects = self.server.subjects
        named = hint_names_session(
            claims,
            sub=subjects.peek(client, current.user.id),
            sid=subjects.sid_for_client(client, current.session.sid),
        )
        return claims if named else None

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: Any
    ) -> bool:
        return bool(getattr(request, "confirmed", False))

    def end_session(self, end_session_request: Any) -> None:
        self._end(end_session_request)
