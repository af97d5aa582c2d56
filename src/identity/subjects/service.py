"""Subject identifiers as each client sees them, and the one resolver every read path uses.

:class:`Subjects` is the provider's side (what ``sub`` and ``sid`` a client is given; only a
sign-in records a pairwise alias). :class:`SubjectResolver` is the reader's side: a client's
names to stored subjects and back, in batches, never creating anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.models import User
from identity.crypto import derive_key
from identity.db import Database, insert_ignoring_conflict
from identity.subjects.models import SubjectAlias
from identity.subjects.rules import Audience, account_key, is_pairwise, pairwise_subject


class Subjects:
    def __init__(self, secret: bytes) -> None:
        self._salt = derive_key(secret, "identity.pairwise-subjects")

    def for_client(self, session: Session, client: Audience, user_id: uuid.UUID) -> str:
        """The ``sub`` for a client the user signs in to; pairwise ones are remembered so
        they can be resolved (this is the only place an alias is created)."""
        if not is_pairwise(client):
            return str(user_id)
        sector = client.sector_identifier
        assert sector is not None
        sub = pairwise_subject(sector, str(user_id), self._salt)
        insert_ignoring_conflict(
            session, SubjectAlias, {"sector": sector, "sub": sub, "user_id": user_id}
        )
        return sub

    def known_to(self, session: Session, client: Audience, user_id: uuid.UUID) -> str | None:
        """The ``sub`` ``client`` was already given for this account, or None: a pairwise
        client learns a customer only when they sign in to it. Never records anything."""
        if not is_pairwise(client):
            return str(user_id)
        return session.scalar(
            select(SubjectAlias.sub).where(
                SubjectAlias.sector == client.sector_identifier, SubjectAlias.user_id == user_id
            )
        )

    def sid_for_client(self, client: Audience, sid: str) -> str:
        """The session id a client sees. Pairwise clients get their own derivation, or the
        shared ``sid`` would let two companies link a customer for the whole session."""
        if not is_pairwise(client):
            return sid
        assert client.sector_identifier is not None
        return pairwise_subject(client.sector_identifier, f"sid:{sid}", self._salt)

    def peek(self, client: Audience, user_id: uuid.UUID) -> str:
        """The ``sub`` for ``client`` without recording it (for comparisons)."""
        if not is_pairwise(client):
            return str(user_id)
        assert client.sector_identifier is not None
        return pairwise_subject(client.sector_identifier, str(user_id), self._salt)

    def resolve(self, session: Session, client: Audience, sub: str) -> uuid.UUID | None:
        """The account behind a ``sub`` that ``client`` was given."""
        if not is_pairwise(client):
            key = account_key(sub)
            return uuid.UUID(key) if key else None
        return session.scalar(
            select(SubjectAlias.user_id).where(
                SubjectAlias.sector == client.sector_identifier, SubjectAlias.sub == sub
            )
        )


class SubjectResolver:
    """Names as a client uses them <-> stored subjects, in one query per batch.

    ``keys`` maps names to stored subjects without checking that they exist (a state row
    already proves it, so readers ask :meth:`existing` only for the rest); ``names`` maps
    stored subjects back, only for those the client may know.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def keys(self, client: Audience, names: Sequence[str]) -> dict[str, str]:
        """Name -> stored subject, for the names that can stand for one."""
        if is_pairwise(client):
            with self._db.engine.connect() as connection:
                rows = connection.execute(
                    select(SubjectAlias.sub, SubjectAlias.user_id).where(
                        SubjectAlias.sector == client.sector_identifier,
                        SubjectAlias.sub.in_(list(names)),
                    )
                ).all()
            return {sub: str(user_id) for sub, user_id in rows}
        keys = {}
        for name in names:
            key = account_key(name)
            if key is not None:
                keys[name] = key
        return keys

    def names(self, client: Audience, keys: Iterable[str]) -> dict[str, str]:
        """Stored subject -> the client's name for it, only for subjects it may know."""
        keys = list(keys)
        if not is_pairwise(client):
            return {k: k for k in keys}
        ids = [uuid.UUID(k) for k in keys if account_key(k) is not None]
        if not ids:
            return {}
        with self._db.read() as session:
            rows = session.execute(
                select(SubjectAlias.user_id, SubjectAlias.sub).where(
                    SubjectAlias.sector == client.sector_identifier,
                    SubjectAlias.user_id.in_(ids),
                )
            ).all()
        return {str(user_id): sub for user_id, sub in rows}

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The stored subjects among ``keys`` that exist (an account that was not erased)."""
        ids = [uuid.UUID(k) for k in set(keys) if account_key(k) == k]
        if not ids:
            return set()
        with self._db.read() as session:
            return {str(i) for i in session.scalars(select(User.id).where(User.id.in_(ids)))}
