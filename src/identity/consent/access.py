"""The consent API as a calling client sees it: subject ids in the client's own view
(public, or pairwise for pairwise clients), only subjects the client is entitled to, scopes.

Public clients (our services) know customers by their public ``sub``; a pairwise client knows
only customers who signed in to it, by the pairwise ``sub`` it was given.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from identity.accounts.models import User
from identity.accounts.service import Origin
from identity.consent.models import ConsentRecord
from identity.consent.rules import Answer
from identity.consent.service import ConsentService, Overview, Recorded, UnknownSubject, subject_key
from identity.db import Database
from identity.oidc.bearer import BearerVerifier, Caller, InvalidBearer
from identity.oidc.models import SubjectAlias

READ = "consent:read"
WRITE = "consent:write"
PREFERENCES = "preferences"  # the customer's own choices, through a first-party channel


@dataclass(frozen=True)
class Viewed:
    """A subject as the caller names it, and the account key behind it."""

    view: str
    key: str


class ConsentAccess:
    def __init__(self, *, consents: ConsentService, bearer: BearerVerifier, db: Database) -> None:
        self.consents = consents
        self._bearer = bearer
        self._db = db

    # -- subjects ----------------------------------------------------------------------------

    def _resolve(self, caller: Caller, subjects: Sequence[str]) -> tuple[list[Viewed], list[str]]:
        """Map the caller's subject ids to accounts; return (known, unknown)."""
        known: list[Viewed] = []
        unknown: list[str] = []
        if caller.client.pairwise and caller.client.sector_identifier:
            with self._db.read() as session:
                rows = session.execute(
                    select(SubjectAlias.sub, SubjectAlias.user_id).where(
                        SubjectAlias.sector == caller.client.sector_identifier,
                        SubjectAlias.sub.in_(list(subjects)),
                    )
                ).all()
            found = {sub: str(user_id) for sub, user_id in rows}
            for s in subjects:
                (known.append(Viewed(s, found[s])) if s in found else unknown.append(s))
            return known, unknown
        existing = self.consents.existing_subjects(subjects)
        for s in subjects:
            key = _canonical(s)
            (known.append(Viewed(s, key)) if key in existing else unknown.append(s))
        return known, unknown

    def _one(self, caller: Caller, subject: str) -> Viewed:
        known, _ = self._resolve(caller, [subject])
        if not known:
            raise UnknownSubject("no customer with that subject id is known to this client")
        return known[0]

    def _views(self, caller: Caller, keys: Sequence[str]) -> dict[str, str]:
        """Account key -> the caller's subject id, only for subjects it may see."""
        if not (caller.client.pairwise and caller.client.sector_identifier):
            return {k: k for k in keys}
        with self._db.read() as session:
            rows = session.execute(
                select(SubjectAlias.user_id, SubjectAlias.sub).where(
                    SubjectAlias.sector == caller.client.sector_identifier,
                    SubjectAlias.user_id.in_([uuid.UUID(k) for k in keys if _is_uuid(k)]),
                )
            ).all()
        return {str(user_id): sub for user_id, sub in rows}

    def _me(self, caller: Caller) -> Viewed:
        if caller.on_behalf_of is None:
            raise InvalidBearer("this call needs a customer's access token, not a service token")
        caller.require(PREFERENCES)
        with self._db.read() as session:
            user_id = self._bearer.resolve_subject(session, caller, caller.on_behalf_of)
        if user_id is None:
            raise InvalidBearer("the customer of this token no longer exists")
        return Viewed(caller.on_behalf_of, subject_key(user_id))

    # -- reads -------------------------------------------------------------------------------

    def decision(self, caller: Caller, subject: str, purpose: str) -> tuple[str, str, Answer]:
        caller.require(READ)
        viewed = self._one(caller, subject)
        return viewed.view, viewed.key, self.consents.answer(viewed.key, purpose)

    def overview(self, caller: Caller, subject: str) -> tuple[str, Overview]:
        caller.require(READ)
        viewed = self._one(caller, subject)
        return viewed.view, self.consents.overview(viewed.key)

    def me(self, caller: Caller) -> str:
        """Check a customer's own token (and its ``preferences`` scope); their subject id."""
        return self._me(caller).view

    def my_overview(self, caller: Caller) -> tuple[str, Overview]:
        viewed = self._me(caller)
        return viewed.view, self.consents.overview(viewed.key)

    def changes(
        self, caller: Caller, after: int, limit: int
    ) -> tuple[list[tuple[str, ConsentRecord]], int]:
        caller.require(READ)
        records = self.consents.changes(after, limit)
        views = self._views(caller, list({r.subject for r in records}))
        visible = [(views[r.subject], r) for r in records if r.subject in views]
        cursor = records[-1].feed_seq if records else after
        return visible, cursor

    # -- writes ------------------------------------------------------------------------------

    def record(
        self,
        caller: Caller,
        subject: str,
        purpose: str,
        *,
        decision: str,
        collected_at: datetime | None,
        language: str | None,
        text_hash: str | None,
        evidence: dict[str, Any],
    ) -> tuple[str, Recorded]:
        caller.require(WRITE)
        viewed = self._one(caller, subject)
        recorded = self.consents.record_for_client(
            client_id=caller.client.client_id,
            subject=viewed.key,
            purpose_id=purpose,
            decision=decision,
            collected_at=collected_at,
            locale=language,
            text_hash=text_hash,
            evidence=evidence,
        )
        return viewed.view, recorded

    def set_mine(
        self, caller: Caller, purpose: str, allowed: bool, origin: Origin
    ) -> tuple[str, str]:
        viewed = self._me(caller)
        with self._db.read() as session:
            user = session.get(User, uuid.UUID(viewed.key))
        if user is None:
            raise InvalidBearer("the customer of this token no longer exists")
        self.consents.set_choices(
            user,
            {purpose: allowed},
            origin=origin,
            source=f"api:{caller.client.client_id}",
            via=caller.client.client_id,
        )
        return viewed.view, viewed.key

    def gpc_for_me(self, caller: Caller, origin: Origin) -> None:
        """``Sec-GPC: 1`` from the customer's own app: their opt-out of sale/share, recorded
        as theirs, through this client."""
        viewed = self._me(caller)
        self.consents.apply_gpc(viewed.key, origin, via=caller.client.client_id)


def _canonical(subject: str) -> str:
    try:
        return str(uuid.UUID(subject))
    except ValueError:
        return subject


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
