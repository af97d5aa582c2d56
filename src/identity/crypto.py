"""Thin, named adapters over the standard library and ``cryptography`` for secret handling.

Nothing here invents cryptography: tokens come from :mod:`secrets`, digests and MACs from
:mod:`hashlib`/:mod:`hmac`, key derivation is HKDF from ``cryptography``. The point of the module is
that every caller uses the same few, reviewed functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """How opaque bearer secrets are stored: a database leak must not yield usable tokens.

    The tokens carry 256 bits of entropy, so a plain SHA-256 (not a slow password hash) is
    the right tool, and it lets us look rows up by digest instead of comparing secrets.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """A separate key per purpose, so one leaked derived key reveals nothing about the others."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret
    )


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256, hex. Used to pseudonymise IP addresses and emails in logs and counters."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def equals(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison for secrets."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


class Pseudonyms:
    """Keyed hashes that stand in for personal data in logs, counters and audit entries.

    The same IP address always maps to the same pseudonym (so throttling and audit searches
    work) but nobody without the secret key can tell which address it was.
    """

    def __init__(self, secret: bytes) -> None:
        self._ip_key = derive_key(secret, "identity.pseudonym.ip")
        self._email_key = derive_key(secret, "identity.pseudonym.email")

    def ip(self, address: str) -> str:
        return keyed_hash(self._ip_key, address)[:32]

    def email(self, address: str) -> str:
        return keyed_hash(self._email_key, address.lower())[:32]
