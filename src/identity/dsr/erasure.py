"""Executing an erasure, inside one transaction: tell the clients, then erase table by table.

The order matters. Clients are told first, while the account's grants, sessions and pairwise
aliases still exist to name the customer as each client knows them: every grant is revoked
(audited), each client with a session or a live grant gets a back-channel logout, and every
webhook subscription gets ``subject.erased`` (a pairwise client only if the customer signed in
to it). Then each table of :data:`~identity.dsr.coverage.COVERAGE` is erased in its order,
the account last. The messages sit in the outbox, committed with the erasure, and are
delivered at least once afterwards; they hold no email, name, phone number or address.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.common import email_throttle_keys
from identity.accounts.models import BrowserSession, User
from identity.audit.refs import Actor
from identity.crypto import Pseudonyms
from identity.dsr.coverage import COVERAGE
from identity.dsr.rules import personal_values
from identity.dsr.sections import Person
from identity.subjects.models import AnonymousSubject


class SignOut(Protocol):
    def account_erased(
        self, session: Session, user_id: uuid.UUID, sids: Collection[str], actor: Actor
    ) -> int:
        """Revoke the account's grants and queue back-channel logouts; how many were queued."""


class ErasureNotices(Protocol):
    def subject_erased(
        self,
        session: Session,
        user_id: uuid.UUID,
        anonymous: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> int:
        """Queue ``subject.erased`` webhooks; how many were queued."""


def person_of(session: Session, user: User, pseudonyms: Pseudonyms, now: datetime) -> Person:
    """Everything the account is known by, read before anything changes."""
    anonymous = session.scalars(
        select(AnonymousSubject.key).where(
            AnonymousSubject.user_id == user.id, AnonymousSubject.shared.is_(False)
        )
    ).all()
    return Person(
        user_id=user.id,
        throttle_keys=email_throttle_keys(pseudonyms, user.email),
        anonymous=tuple(anonymous),
        personal=personal_values(user.email, user.name, user.phone_number, user.address),
        now=now,
    )


def erase_account(
    session: Session,
    person: Person,
    *,
    sign_out: SignOut,
    notices: ErasureNotices,
    actor: Actor,
) -> dict[str, int]:
    """Erase the person's account; returns counts for the tombstone's summary."""
    sids = set(
        session.scalars(
            select(BrowserSession.sid).where(BrowserSession.user_id == person.user_id)
        ).all()
    )
    linked = defaultdict(list)
    for key, client_id in session.execute(
        select(AnonymousSubject.key, AnonymousSubject.client_id).where(
            AnonymousSubject.user_id == person.user_id
        )
    ):
        linked[client_id].append(key)
    summary = {
        "backchannel_logouts": sign_out.account_erased(session, person.user_id, sids, actor),
        "webhooks": notices.subject_erased(session, person.user_id, linked, person.now),
    }
    for table, coverage in COVERAGE.items():
        count = coverage.erase(session, person)
        if count:
            summary[f"{table}.{coverage.erasure}"] = count
    return summary
