"""Signing keys kept in the database: creation, rotation, the published JWKS, encryption at rest.

Rotation (``identity keys rotate``) publishes the next key at once and lets it sign only after
``key_activation_delay``, so relying parties that cache ``/jwks`` see the new key before any
token carries its ``kid``. The superseded key stays published until every token it may have
signed has expired. The key created last signs once active, whatever the delays of earlier
rotations (``rules.signing_kid``). Private keys are encrypted with Fernet under a key derived
from the secret key; the secret key must therefore stay the same for the lifetime of the keys.

Keys are cached per process for ``keys_cache_ttl`` (the hot path signs a token per request);
rotation never needs the cache to be fresh because keys are published ahead of use.

Retiring a key (``identity keys retire``) stops it signing at once. A token key also leaves
``/jwks`` at once (what it signed stops verifying: that is the point of retiring rather than
rotating); a receipt key stays published forever, like every receipt key. The key that signs
may be retired only when the one that would sign in its place is published already.

Two sets of keys live in ``signing_key``, told apart by ``purpose`` and served by one
:class:`KeyStore` each: token keys (ID, access and logout tokens, ``/jwks``) and receipt keys
(consent receipts, ``/receipts/jwks``). A receipt is kept, and checked, for as long as its
record is, years after the 15 minutes a token key stays published once superseded; so receipt
keys rotate on their own (``identity keys rotate --for receipts``) and every receipt key ever
created stays published. No key serves both: a token cannot pass for a receipt or the reverse.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select

from identity import audit
from identity.audit.refs import CLI, SYSTEM, Actor
from identity.crypto import derive_key
from identity.db import Database, utcnow
from identity.errors import InvalidInput
from identity.oidc.models import SigningKey
from identity.oidc.rules import KeyTimes, published_kids, retirement_problem, signing_kid

ALGORITHMS = ("RS256", "ES256")
Key = RSAKey | ECKey


class KeyPurpose(StrEnum):
    """What a key signs (``signing_key.purpose``)."""

    tokens = "tokens"
    receipts = "receipts"


def generate_key(alg: str) -> Key:
    params = {"alg": alg, "use": "sig"}
    key: Key = (
        RSAKey.generate_key(2048, parameters=params, private=True)
        if alg == "RS256"
        else ECKey.generate_key("P-256", parameters=params, private=True)
    )
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def import_jwk(data: dict[str, Any]) -> Key:
    return RSAKey.import_key(data) if data["kty"] == "RSA" else ECKey.import_key(data)


@dataclass(frozen=True)
class _Loaded:
    at: float
    times: list[KeyTimes]
    public: dict[str, dict[str, Any]]
    private: dict[str, Key]
    jwks: dict[str, Any]
    keyset: KeySet
    held_keyset: KeySet
    private_keyset: KeySet


class KeyStore:
    """The keys of one :class:`KeyPurpose`.

    ``published_after_superseded`` is how long a superseded key stays published: the longest
    token lifetime for token keys, ``None`` (forever) for receipt keys. ``ensure`` creates a
    key for each of ``algorithms``; ``rotate`` accepts any of :data:`ALGORITHMS`.
    """

    def __init__(
        self,
        db: Database,
        secret: bytes,
        *,
        purpose: KeyPurpose = KeyPurpose.tokens,
        algorithms: Sequence[str] = ALGORITHMS,
        activation_delay: timedelta,
        published_after_superseded: timedelta | None,
        cache_ttl: timedelta,
    ) -> None:
        self._db = db
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "identity.signing-keys")))
        self.purpose = purpose
        self._algorithms = tuple(algorithms)
        self._activation_delay = activation_delay
        self._published_for = published_after_superseded
        self._cache_ttl = cache_ttl.total_seconds()
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    # -- writing ------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create an immediately active key for every algorithm that has none (start-up)."""
        with self._db.transaction() as session:
            present = set(
                session.scalars(
                    select(SigningKey.alg).where(SigningKey.purpose == self.purpose.value)
                ).all()
            )
            for alg in self._algorithms:
                if alg not in present:
                    self._add(session, alg, activates_at=utcnow(), actor=SYSTEM)
        self.invalidate()

    def rotate(self, alg: str, *, delay: timedelta | None = None) -> SigningKey:
        """Publish a new key now; it starts signing after ``delay`` (default from settings)."""
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
        self.ensure()  # something must sign until the new key takes over
        now = utcnow()
        with self._db.transaction() as session:
            row = self._add(
                session,
                alg,
                activates_at=now + (self._activation_delay if delay is None else delay),
                actor=CLI,
            )
        self.invalidate()
        return row

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` is one of this store's keys (of its purpose)."""
        with self._db.read() as session:
            row = session.get(SigningKey, kid) if len(kid) <= 64 else None
            return row is not None and row.purpose == self.purpose.value

    def retire(self, kid: str, *, actor: Actor) -> KeyTimes:
        """Stop signing with ``kid`` now (raises :class:`InvalidInput` naming why it may not:
        ``rules.retirement_problem``). A token key also leaves ``/jwks`` at once and stops
        vouching for ``id_token_hint``s: what it signed stops verifying, which is what
        retiring is for (a suspected leak; an orderly change is ``rotate``). A receipt key
        stays published: the receipts it signed must verify for as long as they are kept.

        Other processes see the change within ``keys_cache_ttl``."""
        now = utcnow()
        with self._db.transaction() as session:
            # Locked: two retirements at once must not each leave the other as the successor.
            rows = session.scalars(
                select(SigningKey).where(SigningKey.purpose == self.purpose.value).with_for_update()
            ).all()
            times = [
                KeyTimes(r.kid, r.alg, r.created_at, r.activates_at, r.retired_at) for r in rows
            ]
            problem = retirement_problem(times, kid, now, self._published(times, now))
            if problem is not None:
                raise InvalidInput(problem)
            row = next(r for r in rows if r.kid == kid)
            row.retired_at = now
            audit.record(
                session,
                "keys.retired",
                actor=actor,
                details={"kid": kid, "alg": row.alg, "for": self.purpose.value},
            )
            retired = KeyTimes(row.kid, row.alg, row.created_at, row.activates_at, now)
        self.invalidate()
        return retired

    def _add(self, session: Any, alg: str, *, activates_at: datetime, actor: Actor) -> SigningKey:
        key = generate_key(alg)
        row = SigningKey(
            kid=key.kid,
            alg=alg,
            purpose=self.purpose.value,
            public_jwk=key.as_dict(private=False),
            private_jwk_encrypted=self._fernet.encrypt(
                json.dumps(key.as_dict(private=True)).encode()
            ).decode(),
            created_at=utcnow(),
            activates_at=activates_at,
            retired_at=None,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "keys.created",
            actor=actor,
            details={
                "kid": row.kid,
                "alg": alg,
                "for": self.purpose.value,
                "activates_at": activates_at.isoformat(),
            },
        )
        return row

    # -- reading ------------------------------------------------------------------------

    def invalidate(self) -> None:
        with self._lock:
            self._loaded = None

    def _load(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None and time.monotonic() - loaded.at < self._cache_ttl:
            return loaded
        with self._db.read() as session:
            rows = session.scalars(
                select(SigningKey)
                .where(SigningKey.purpose == self.purpose.value)
                .order_by(SigningKey.created_at)
            ).all()
        private = {
            r.kid: import_jwk(json.loads(self._fernet.decrypt(r.private_jwk_encrypted.encode())))
            for r in rows
        }
        times = [KeyTimes(r.kid, r.alg, r.created_at, r.activates_at, r.retired_at) for r in rows]
        public = {r.kid: {**r.public_jwk, "kid": r.kid} for r in rows}
        jwks = {"keys": [public[k] for k in self._published(times, utcnow())]}
        loaded = _Loaded(
            at=time.monotonic(),
            times=times,
            public=public,
            private=private,
            jwks=jwks,
            keyset=KeySet([import_jwk(k) for k in jwks["keys"]]),
            held_keyset=KeySet([import_jwk(public[t.kid]) for t in times if t.retired_at is None]),
            private_keyset=KeySet(list(private.values())),
        )
        with self._lock:
            self._loaded = loaded
        return loaded

    def _published(self, times: list[KeyTimes], now: datetime) -> list[str]:
        if self._published_for is None:
            return [t.kid for t in times]  # receipt keys: every one ever used, forever
        return published_kids(times, now, self._published_for)

    def signing_key(self, alg: str) -> Key:
        loaded = self._load()
        kid = signing_kid(loaded.times, alg, utcnow())
        if kid is None:
            # ensure() runs at start-up. Creating keys here could deadlock a caller holding the
            # SQLite write lock, so say what is wrong instead.
            raise RuntimeError(
                f"no active {alg} {self.purpose.value} key: is the server started on a migrated"
                " database?"
            )
        return loaded.private[kid]

    def jwks(self) -> dict[str, Any]:
        """The published public keys (recomputed at most every ``keys_cache_ttl``)."""
        return self._load().jwks

    def private_keyset(self) -> KeySet:
        """Every private key, for signing with a ``kid`` chosen by :meth:`signing_key`."""
        return self._load().private_keyset

    def public_keyset(self) -> KeySet:
        """The published keys, for verifying our own tokens."""
        return self._load().keyset

    def held_keyset(self) -> KeySet:
        """Every key we still hold, published or not, for ``id_token_hint``s.

        An ID token comes back as a hint long after it expired (RP-Initiated Logout 1.0 §2:
        the OP SHOULD accept it), and so long after its key left ``/jwks``. Only our own
        signature is checked, so any key in ``signing_key`` will do; deleting a key's row is
        how to stop trusting what it signed, and so is retiring it (``retire``)."""
        return self._load().held_keyset

    def describe(self) -> list[dict[str, Any]]:
        loaded = self._load()
        now = utcnow()
        published = set(self._published(loaded.times, now))
        return [
            {
                "kid": k.kid,
                "alg": k.alg,
                "for": self.purpose.value,
                "activates_at": k.activates_at.isoformat(),
                "signing": signing_kid(loaded.times, k.alg, now) == k.kid,
                "published": k.kid in published,
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
            }
            for k in loaded.times
        ]
