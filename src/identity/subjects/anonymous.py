"""First-party anonymous ids: what a channel keeps for a visitor who has not signed in.

An anonymous id is opaque to its holder and short enough to be a path segment::

    a_<base64url( 16 random bytes | expiry, 4 bytes | 16-byte MAC )>

The MAC is HMAC-SHA256 under a key derived from the secret, over the random part, the expiry
and the id of the client it was issued to: only that client's calls can use it (another
client's, or a forged or expired one, names no subject), and nothing in it says which client
or when it was made. The stored consent subject is ``a:`` plus the random part, so renewing an
id (same random part, later expiry) keeps the visitor's choices. Issuing writes nothing.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from identity.crypto import derive_key

PREFIX = "a_"
KEY_PREFIX = "a:"
_RANDOM, _EXPIRY, _MAC = 16, 4, 16
SIZE = _RANDOM + _EXPIRY + _MAC


@dataclass(frozen=True, slots=True)
class AnonymousId:
    """A verified anonymous id: its stored subject and when it stops naming one."""

    token: str
    key: str  # the stored consent subject, "a:<random part>"
    client_id: str
    expires_at: datetime

    @property
    def random(self) -> bytes:
        return _b64decode(self.key.removeprefix(KEY_PREFIX))


class InvalidAnonymousId(ValueError):
    """Not an anonymous id of this client: forged, expired, another client's, or malformed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # malformed | forged | expired


def is_anonymous_name(name: str) -> bool:
    return name.startswith(PREFIX)


def is_anonymous_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_of(token: str) -> str | None:
    """The stored subject an id would name, *unverified* (to find whose id it is first)."""
    if not is_anonymous_name(token) or len(token) > 64:
        return None
    try:
        raw = _b64decode(token.removeprefix(PREFIX))
    except ValueError:
        return None
    return KEY_PREFIX + _b64(raw[:_RANDOM]) if len(raw) == SIZE else None


class AnonymousIds:
    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        self._key = derive_key(secret, "identity.anonymous-ids")
        self.lifetime = lifetime

    def _mac(self, random: bytes, expiry: bytes, client_id: str) -> bytes:
        message = random + expiry + client_id.encode()
        return hmac.digest(self._key, message, "sha256")[:_MAC]

    def issue(self, client_id: str, now: datetime, random: bytes | None = None) -> AnonymousId:
        """A new id for ``client_id`` (or a renewal, given the random part of the old one)."""
        random = random or secrets.token_bytes(_RANDOM)
        expires = int((now + self.lifetime).timestamp())
        expiry = expires.to_bytes(_EXPIRY, "big")
        token = PREFIX + _b64(random + expiry + self._mac(random, expiry, client_id))
        return AnonymousId(
            token, KEY_PREFIX + _b64(random), client_id, datetime.fromtimestamp(expires, UTC)
        )

    def verify(self, token: str, client_id: str, now: datetime) -> AnonymousId:
        """The id, if ``client_id`` was given it and it has not expired (raises)."""
        if not is_anonymous_name(token) or len(token) > 64:
            raise InvalidAnonymousId("malformed")
        try:
            raw = _b64decode(token.removeprefix(PREFIX))
        except ValueError as exc:
            raise InvalidAnonymousId("malformed") from exc
        if len(raw) != SIZE:
            raise InvalidAnonymousId("malformed")
        random, expiry, mac = raw[:_RANDOM], raw[_RANDOM:-_MAC], raw[-_MAC:]
        if not hmac.compare_digest(mac, self._mac(random, expiry, client_id)):
            raise InvalidAnonymousId("forged")
        expires_at = datetime.fromtimestamp(int.from_bytes(expiry, "big"), UTC)
        if expires_at <= now:
            raise InvalidAnonymousId("expired")
        return AnonymousId(token, KEY_PREFIX + _b64(random), client_id, expires_at)

    def renew(self, token: str, client_id: str, now: datetime) -> AnonymousId:
        """The same visitor, a fresh expiry (the old id must still be valid)."""
        return self.issue(client_id, now, self.verify(token, client_id, now).random)
