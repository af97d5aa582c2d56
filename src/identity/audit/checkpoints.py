"""The log's checkpoint key: an Ed25519 key that signs C2SP checkpoints as signed notes.

The private half is stored encrypted with a key derived from the secret key (Fernet, as the
token keys are). The newest key signs; every key stays published, so a checkpoint signed
before a rotation still verifies. The key's name is the log's origin, the first line of every
checkpoint: ``<issuer host>/audit``.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from identity.audit import record
from identity.audit.models import AuditKeyRow
from identity.audit.notes import NoteSigner, NoteVerifier, vkey
from identity.audit.refs import SYSTEM, Actor
from identity.crypto import derive_key
from identity.db import Database, utcnow


def log_origin(issuer: str) -> str:
    """The log's name: the issuer's host (and port) and ``/audit``."""
    return f"{urlsplit(issuer).netloc}/audit"


@dataclass(frozen=True)
class _Keys:
    signer: NoteSigner
    verifiers: tuple[NoteVerifier, ...]
    vkeys: tuple[str, ...]  # newest first


class CheckpointKeys:
    def __init__(self, db: Database, secret: bytes, origin: str) -> None:
        self._db = db
        self.origin = origin
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "identity.audit-key")))
        self._lock = threading.Lock()
        self._loaded: _Keys | None = None

    def ensure(self) -> None:
        """Create the first key (start-up); nothing when one exists."""
        with self._db.transaction() as session:
            if session.scalar(select(AuditKeyRow.id).limit(1)) is None:
                self._add(session, actor=SYSTEM)
        self._forget()

    def rotate(self, actor: Actor) -> str:
        """A new signing key; the old ones stay published. Returns the new verifier key."""
        with self._db.transaction() as session:
            row = self._add(session, actor=actor)
        self._forget()
        return vkey(row.name, Ed25519PublicKey.from_public_bytes(row.public_key))

    def _add(self, session: object, *, actor: Actor) -> AuditKeyRow:
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        row = AuditKeyRow(
            name=self.origin,
            public_key=private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            private_encrypted=self._fernet.encrypt(raw).decode(),
            created_at=utcnow(),
        )
        session.add(row)  # type: ignore[attr-defined]
        session.flush()  # type: ignore[attr-defined]
        verifier = vkey(row.name, private.public_key())
        record(session, "audit.key_created", actor=actor, details={"vkey": verifier})  # type: ignore[arg-type]
        return row

    def _forget(self) -> None:
        with self._lock:
            self._loaded = None

    def _load(self) -> _Keys:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._db.read() as session:
            rows = list(session.scalars(select(AuditKeyRow).order_by(AuditKeyRow.id.desc())))
        if not rows:
            raise RuntimeError("no audit log key: is the server started on a migrated database?")
        newest = rows[0]
        private = Ed25519PrivateKey.from_private_bytes(
            self._fernet.decrypt(newest.private_encrypted.encode())
        )
        publics = [(r.name, Ed25519PublicKey.from_public_bytes(r.public_key)) for r in rows]
        loaded = _Keys(
            NoteSigner(newest.name, private),
            tuple(NoteVerifier.for_key(name, key) for name, key in publics),
            tuple(vkey(name, key) for name, key in publics),
        )
        with self._lock:
            self._loaded = loaded
        return loaded

    def signer(self) -> NoteSigner:
        return self._load().signer

    def verifiers(self) -> tuple[NoteVerifier, ...]:
        return self._load().verifiers

    def vkeys(self) -> tuple[str, ...]:
        """Every verifier key, newest (the one that signs now) first."""
        return self._load().vkeys
