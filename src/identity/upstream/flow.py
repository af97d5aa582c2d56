"""What a browser carries between the steps of an external sign-in: signed, short-lived tokens
kept in cookies of our own origin (no table of pending flows to clean up).

- :class:`Flow` (cookie ``identity_upstream``, ``upstream_flow_ttl``): the ``state``, ``nonce``
  and PKCE verifier of one authorization request, the provider and where to go after. The
  callback must carry the same ``state`` (so a response started in another browser is
  refused) and uses the flow once: its id is redeemed in ``used_link``, so a replayed
  callback fails even with the cookie.
- :class:`Pending` (cookie ``identity_upstream_pending``, ``upstream_pending_ttl``): an
  upstream identity whose ID token was checked but that is not linked yet: it waits for a
  confirmation, a password sign-in or a mailed link. ``browser`` is a random value that a
  mailed link names by its digest, so the link works only in the browser that signed in
  upstream: an upstream account with someone else's address cannot get itself linked by
  that person opening the mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from identity.crypto import derive_key, new_token, token_digest
from identity.upstream.rules import Identity

MAX_TOKEN = 4000


@dataclass(frozen=True, slots=True)
class Flow:
    provider: str
    state: str
    nonce: str
    verifier: str
    next_url: str

    @classmethod
    def new(cls, provider: str, next_url: str) -> Flow:
        # 43 characters of randomness each: RFC 7636 §4.1 asks 43 to 128 for the verifier.
        return cls(provider, new_token(32), new_token(32), new_token(48), next_url)


@dataclass(frozen=True, slots=True)
class Pending:
    identity: Identity
    next_url: str
    browser: str  # random, this browser's; a mailed link carries its digest

    @property
    def browser_digest(self) -> str:
        return token_digest(self.browser)


@dataclass(frozen=True, slots=True)
class MailedLink:
    user_id: str | None  # None: the account is created when the link is opened
    provider: str
    sub: str
    browser_digest: str
    link_id: str


class FlowTokens:
    def __init__(self, secret: bytes, *, flow_ttl: timedelta, pending_ttl: timedelta) -> None:
        key = derive_key(secret, "identity.upstream")
        self._flows = URLSafeTimedSerializer(key, salt="upstream.flow")
        self._pending = URLSafeTimedSerializer(key, salt="upstream.pending")
        self._mailed = URLSafeTimedSerializer(key, salt="upstream.mailed-link")
        self.flow_ttl = flow_ttl
        self.pending_ttl = pending_ttl

    def _load(self, serializer: URLSafeTimedSerializer, token: str | None, ttl: timedelta) -> Any:
        if not token or len(token) > MAX_TOKEN:
            return None
        try:
            return serializer.loads(token, max_age=int(ttl.total_seconds()))
        except BadSignature:  # SignatureExpired is one
            return None

    def seal_flow(self, flow: Flow) -> str:
        return self._flows.dumps(
            [flow.provider, flow.state, flow.nonce, flow.verifier, flow.next_url]
        )

    def open_flow(self, token: str | None) -> Flow | None:
        data = self._load(self._flows, token, self.flow_ttl)
        if (
            not isinstance(data, list)
            or len(data) != 5
            or not all(isinstance(v, str) for v in data)
        ):
            return None
        return Flow(*data)

    def seal_pending(self, identity: Identity, next_url: str) -> str:
        i = identity
        return self._pending.dumps(
            [i.provider, i.sub, i.email, i.email_verified, i.name, next_url, new_token(24)]
        )

    def open_pending(self, token: str | None) -> Pending | None:
        data = self._load(self._pending, token, self.pending_ttl)
        if not isinstance(data, list) or len(data) != 7:
            return None
        provider, sub, email, verified, name, next_url, browser = data
        if not all(isinstance(v, str) for v in (provider, sub, name, next_url, browser)):
            return None
        if (email is not None and not isinstance(email, str)) or not isinstance(verified, bool):
            return None
        return Pending(Identity(provider, sub, email, verified, name), next_url, browser)

    def seal_mailed(self, pending: Pending, user_id: str | None) -> str:
        i = pending.identity
        return self._mailed.dumps(
            [user_id, i.provider, i.sub, pending.browser_digest, new_token(16)]
        )

    def open_mailed(self, token: str | None) -> MailedLink | None:
        data = self._load(self._mailed, token, self.pending_ttl)
        if not isinstance(data, list) or len(data) != 5:
            return None
        user_id, provider, sub, digest, link_id = data
        if user_id is not None and not isinstance(user_id, str):
            return None
        if not all(isinstance(v, str) for v in (provider, sub, digest, link_id)):
            return None
        return MailedLink(user_id, provider, sub, digest, link_id)
