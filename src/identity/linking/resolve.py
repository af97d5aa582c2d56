"""Who is behind an anonymous id, for a service, only when the customer's consent allows it.

A client registered with ``identity:resolve`` and a purpose (the recommender: personalisation)
asks ``GET /v1/links/{anonymous id}``. It learns the account, as it knows accounts (its
pairwise ``sub`` for a pairwise client, and then only for a customer who signed in to it),
only if the id is linked and the account's answer for that purpose is "allowed"; every other
case answers the same "not found", so the answer reveals nothing. Every request is audited.
"""

from __future__ import annotations

import uuid

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.consent.decisions import Decisions
from identity.db import Database, utcnow
from identity.errors import NotFound, PermissionDenied
from identity.subjects.anonymous import AnonymousIds, InvalidAnonymousId, key_of
from identity.subjects.models import AnonymousSubject
from identity.subjects.rules import Audience
from identity.subjects.service import Subjects


class NotResolvable(NotFound):
    slug = "not-resolvable"
    title = "No account can be named for this anonymous id"


class Resolution:
    def __init__(
        self, *, db: Database, anonymous: AnonymousIds, decisions: Decisions, subjects: Subjects
    ) -> None:
        self._db = db
        self._anonymous = anonymous
        self._decisions = decisions
        self._subjects = subjects

    def resolve(self, client: Audience, purpose_id: str | None, token: str) -> str:
        """The account's ``sub`` as ``client`` knows it (raises NotResolvable)."""
        if not purpose_id:
            raise PermissionDenied("this client has no purpose registered for resolving ids")
        user_id, key, reason = self._lookup(token)
        sub = None
        if user_id is not None:
            [(_, answer)] = self._decisions.answers_for(
                str(user_id), purposes=[self._decisions.purpose(purpose_id)]
            )
            if not answer["allowed"]:
                reason = f"{purpose_id} not allowed"
            else:
                with self._db.read() as session:
                    sub = self._subjects.known_to(session, client, user_id)
                reason = None if sub else "not known to this client"
        with self._db.transaction() as session:
            audit.record(
                session,
                "link.resolved" if sub else "link.resolve_refused",
                actor=Actor.client(client.client_id),
                subject=Subject.visitor(key) if key else None,
                details={"purpose": purpose_id, **({"reason": reason} if reason else {})},
            )
        if sub is None:
            raise NotResolvable("no account can be named for this anonymous id")
        return sub

    def _lookup(self, token: str) -> tuple[uuid.UUID | None, str | None, str | None]:
        key = key_of(token)
        if key is None:
            return None, None, "malformed"
        with self._db.read() as session:
            row = session.get(AnonymousSubject, key)
        if row is None or row.user_id is None:
            return None, key, "not linked"
        try:  # the id must be the one its channel was given, and still valid
            self._anonymous.verify(token, row.client_id, utcnow())
        except InvalidAnonymousId as exc:
            return None, key, exc.reason
        return row.user_id, key, None
