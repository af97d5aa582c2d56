"""Subject identifiers as each client sees them, and the one resolver every read path uses.

:class:`Subjects` is the provider's side (what ``sub`` and ``sid`` a client is given; only a
sign-in records a pairwise alias). :class:`SubjectResolver` is the reader's side: a client's
names to stored subjects and back, in batches, never creating anything.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from identity.accounts.models import User
from identity.crypto import derive_key
from identity.db import Database, dialect_insert_for, insert_ignoring_conflict, upsert, utcnow
from identity.subjects.anonymous import (
    AnonymousId,
    AnonymousIds,
    InvalidAnonymousId,
    is_anonymous_key,
    is_anonymous_name,
)
from identity.subjects.models import AnonymousSubject, SubjectAlias
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

    def name_for(self, session: Session, client: Audience, key: str) -> str | None:
        """A stored subject as ``client`` already knows it, or None: an anonymous subject only
        for the client it belongs to, an account as :meth:`known_to` says."""
        if is_anonymous_key(key):
            owner = session.scalar(
                select(AnonymousSubject.client_id).where(AnonymousSubject.key == key)
            )
            return key if owner == client.client_id else None
        user_id = account_key(key)
        return None if user_id is None else self.known_to(session, client, uuid.UUID(user_id))

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


def note_anonymous(session: Session, anonymous: AnonymousId) -> None:
    """The anonymous subject's row, made at its first use; a renewed id extends it. One
    statement and no read: a visitor's banner choice is among the most frequent writes.
    Every consent write for a visitor calls it first, so a visitor without a row has recorded
    nothing (a sign-in's claim relies on that)."""
    upsert(
        session,
        AnonymousSubject.__table__,
        {
            "key": anonymous.key,
            "client_id": anonymous.client_id,
            "created_at": utcnow(),
            "expires_at": anonymous.expires_at,
            "shared": False,
        },
        keys=("key",),
        update=("expires_at",),
        only_if=_later,
    )


def _later(table: Any, excluded: Any) -> Any:
    return table.c.expires_at < excluded.expires_at


@dataclass(frozen=True, slots=True)
class Claimed:
    """An anonymous subject's row as a sign-in that presents it leaves it."""

    user_id: uuid.UUID | None  # the account it is linked to (this claim's, if it could link)
    unlinked: bool
    shared: bool
    fresh: bool  # first used by this claim: nothing was recorded for it, nobody presented it


def claim_anonymous(session: Session, anonymous: AnonymousId, user_id: uuid.UUID) -> Claimed:
    """:func:`note_anonymous` for a sign-in: the row is held until the transaction ends and
    linked to ``user_id`` if it can be (linked to nobody, never unlinked, not shared).

    A first use is one statement that inserts the row already linked; otherwise one upsert
    decides the link: on PostgreSQL ``ON CONFLICT DO UPDATE`` locks the row it meets (so two
    sign-ins with one id decide its link one after the other); SQLite has one writer."""
    now = utcnow()
    values = {
        "key": anonymous.key,
        "client_id": anonymous.client_id,
        "created_at": now,
        "expires_at": anonymous.expires_at,
        "shared": False,
        "user_id": user_id,
        "linked_at": now,
    }
    if insert_ignoring_conflict(session, AnonymousSubject, values):
        return Claimed(user_id, unlinked=False, shared=False, fresh=True)
    row = session.execute(_claim_statement(session.get_bind().dialect.name), values).one()
    return Claimed(row.user_id, row.unlinked_at is not None, bool(row.shared), fresh=False)


@functools.lru_cache(maxsize=2)
def _claim_statement(dialect: str) -> Any:
    table = AnonymousSubject.__table__
    statement = dialect_insert_for(dialect, table)
    excluded = statement.excluded
    # Every SET expression reads the row as it was; always an update (never ``WHERE``-skipped),
    # so RETURNING always has the row.
    linkable = table.c.user_id.is_(None) & table.c.unlinked_at.is_(None) & ~table.c.shared
    return statement.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "expires_at": case(
                (table.c.expires_at < excluded.expires_at, excluded.expires_at),
                else_=table.c.expires_at,
            ),
            "user_id": case((linkable, excluded.user_id), else_=table.c.user_id),
            "linked_at": case((linkable, excluded.linked_at), else_=table.c.linked_at),
        },
    ).returning(table.c.user_id, table.c.unlinked_at, table.c.shared)


class SubjectResolver:
    """Names as a client uses them <-> stored subjects, in one query per batch.

    Two kinds of subject: accounts (named by their public ``sub``, or the pairwise one a
    pairwise client was given) and anonymous first-party ids (named by the id itself, and only
    by the client it was issued to). ``keys`` maps names to stored subjects without checking
    that accounts exist (a state row already proves it, so readers ask :meth:`existing` only
    for the rest); ``names`` maps stored subjects back, only for those the client may know.
    """

    def __init__(self, db: Database, anonymous: AnonymousIds) -> None:
        self._db = db
        self._anonymous = anonymous

    def anonymous(self, client: Audience, name: str) -> AnonymousId | None:
        """The verified anonymous id ``name``, if it is one of this client's and still valid."""
        try:
            return self._anonymous.verify(name, client.client_id, utcnow())
        except InvalidAnonymousId:
            return None

    def keys(self, client: Audience, names: Sequence[str]) -> dict[str, str]:
        """Name -> stored subject, for the names that can stand for one."""
        keys = {}
        for name in names:
            if is_anonymous_name(name) and (found := self.anonymous(client, name)):
                keys[name] = found.key
        accounts = [n for n in names if not is_anonymous_name(n)]
        return {**keys, **self._account_keys(client, accounts)} if accounts else keys

    def _account_keys(self, client: Audience, names: Sequence[str]) -> dict[str, str]:
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
        """Stored subject -> the client's name for it, only for subjects it may know: an
        anonymous subject only to the client it belongs to (by its stored key, which that
        client was given with the id)."""
        keys = list(keys)
        anonymous = self._owned(client, [k for k in keys if is_anonymous_key(k)])
        accounts = [k for k in keys if not is_anonymous_key(k)]
        if not is_pairwise(client):
            return {**anonymous, **{k: k for k in accounts}}
        ids = [uuid.UUID(k) for k in accounts if account_key(k) is not None]
        if not ids:
            return anonymous
        with self._db.read() as session:
            rows = session.execute(
                select(SubjectAlias.user_id, SubjectAlias.sub).where(
                    SubjectAlias.sector == client.sector_identifier,
                    SubjectAlias.user_id.in_(ids),
                )
            ).all()
        return {**anonymous, **{str(user_id): sub for user_id, sub in rows}}

    def _owned(self, client: Audience, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        with self._db.read() as session:
            owned = session.scalars(
                select(AnonymousSubject.key).where(
                    AnonymousSubject.key.in_(keys), AnonymousSubject.client_id == client.client_id
                )
            )
            return {k: k for k in owned}

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The stored subjects among ``keys`` that exist: an account that was not erased, or
        an anonymous id (it was verified when it was named)."""
        keys = set(keys)
        anonymous = {k for k in keys if is_anonymous_key(k)}
        ids = [uuid.UUID(k) for k in keys if account_key(k) == k]
        if not ids:
            return anonymous
        with self._db.read() as session:
            found = session.scalars(select(User.id).where(User.id.in_(ids)))
            return anonymous | {str(i) for i in found}
