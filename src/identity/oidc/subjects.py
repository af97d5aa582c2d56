"""Subject identifiers as each client sees them: public (the account id) or pairwise."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.crypto import derive_key
from identity.db import insert_ignoring_conflict
from identity.oidc.clients import Client
from identity.oidc.models import SubjectAlias
from identity.oidc.rules import pairwise_subject


class Subjects:
    def __init__(self, secret: bytes) -> None:
        self._salt = derive_key(secret, "identity.pairwise-subjects")

    def for_client(self, session: Session, client: Client, user_id: uuid.UUID) -> str:
        """The ``sub`` for ``client``; pairwise ones are remembered so they can be resolved."""
        if not client.pairwise or client.sector_identifier is None:
            return str(user_id)
        sub = pairwise_subject(client.sector_identifier, str(user_id), self._salt)
        insert_ignoring_conflict(
            session,
            SubjectAlias,
            {"sector": client.sector_identifier, "sub": sub, "user_id": user_id},
        )
        return sub

    def known_to(self, session: Session, client: Client, user_id: uuid.UUID) -> str | None:
        """The ``sub`` ``client`` was already given for this account, or None: a pairwise
        client learns a customer only when they sign in to it. Never records anything."""
        if not client.pairwise or client.sector_identifier is None:
            return str(user_id)
        return session.scalar(
            select(SubjectAlias.sub).where(
                SubjectAlias.sector == client.sector_identifier, SubjectAlias.user_id == user_id
            )
        )

    def sid_for_client(self, client: Client, sid: str) -> str:
        """The session id a client sees. Pairwise clients get their own derivation, or the
        shared ``sid`` would let two companies link a customer for the whole session."""
        if not client.pairwise or client.sector_identifier is None:
            return sid
        return pairwise_subject(client.sector_identifier, f"sid:{sid}", self._salt)

    def peek(self, client: Client, user_id: uuid.UUID) -> str:
        """The ``sub`` for ``client`` without recording it (for comparisons)."""
        if not client.pairwise or client.sector_identifier is None:
            return str(user_id)
        return pairwise_subject(client.sector_identifier, str(user_id), self._salt)

    def resolve(self, session: Session, client: Client, sub: str) -> uuid.UUID | None:
        """The account behind a ``sub`` that ``client`` was given."""
        if not client.pairwise or client.sector_identifier is None:
            try:
                return uuid.UUID(sub)
            except ValueError:
                return None
        return session.scalar(
            select(SubjectAlias.user_id).where(
                SubjectAlias.sector == client.sector_identifier, SubjectAlias.sub == sub
            )
        )
