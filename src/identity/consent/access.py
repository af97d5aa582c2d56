"""The consent API as a calling client sees it: subjects in the client's own names (public, or
pairwise for pairwise clients), only subjects the client may know, and the scopes each call
needs. Answers come from the read model (:mod:`identity.consent.decisions`), records from the
ledger (:class:`~identity.consent.service.ConsentService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from identity.consent.decisions import READ, Decisions, UnknownSubject
from identity.consent.ledger import Recorded, RecordView
from identity.consent.policy import Purpose
from identity.consent.service import ConsentService
from identity.context import Origin
from identity.errors import PermissionDenied
from identity.oidc.bearer import Caller, InvalidBearer
from identity.subjects.anonymous import AnonymousId, is_anonymous_name
from identity.subjects.service import SubjectResolver

WRITE = "consent:write"
PREFERENCES = "preferences"  # the customer's own choices, through a first-party channel


@dataclass(frozen=True)
class Viewed:
    """A subject as the caller names it, and the stored subject behind it."""

    name: str
    key: str


@dataclass(frozen=True)
class SubjectView:
    """A subject's answers and history, as one caller may see them."""

    name: str
    answers: list[tuple[Purpose, dict[str, Any]]]
    history: list[RecordView]


class ConsentAccess:
    def __init__(
        self, *, consents: ConsentService, decisions: Decisions, resolver: SubjectResolver
    ) -> None:
        self.consents = consents
        self.decisions = decisions
        self._resolver = resolver

    def _one(self, caller: Caller, name: str) -> Viewed:
        return Viewed(name, self.decisions.key(caller.client, name))

    def _me(self, caller: Caller) -> Viewed:
        """The customer behind a customer's own token with the ``preferences`` scope."""
        if caller.on_behalf_of is None:
            raise InvalidBearer("this call needs a customer's access token, not a service token")
        caller.require(PREFERENCES)
        try:
            return self._one(caller, caller.on_behalf_of)
        except UnknownSubject as exc:
            raise InvalidBearer("the customer of this token no longer exists") from exc

    def _view(self, viewed: Viewed) -> SubjectView:
        answers = self.decisions.answers_for(viewed.key, viewed.name)
        return SubjectView(viewed.name, answers, self.consents.history(viewed.key))

    # -- reads -------------------------------------------------------------------------------

    def overview(self, caller: Caller, name: str) -> SubjectView:
        caller.require(READ)
        return self._view(self._one(caller, name))

    def me(self, caller: Caller) -> str:
        """Check a customer's own token (and its ``preferences`` scope); their name."""
        return self._me(caller).name

    def my_overview(self, caller: Caller) -> SubjectView:
        return self._view(self._me(caller))

    def changes(
        self, caller: Caller, after: int, limit: int
    ) -> tuple[list[tuple[str, RecordView]], int]:
        """Feed records after the cursor, only for subjects the caller may know; the cursor
        moves past hidden records too, so every client pages through the same sequence."""
        caller.require(READ)
        records = self.consents.changes(after, limit)
        names = self._resolver.names(caller.client, {r.subject for r in records})
        visible = [(names[r.subject], r) for r in records if r.subject in names]
        return visible, records[-1].cursor if records else after

    # -- writes ------------------------------------------------------------------------------

    def record(
        self,
        caller: Caller,
        name: str,
        purpose: str,
        *,
        decision: str,
        collected_at: datetime | None,
        language: str | None,
        text_hash: str | None,
        evidence: dict[str, Any],
    ) -> tuple[Recorded, dict[str, Any]]:
        """A decision collected by the calling service, and the answer it leads to."""
        caller.require(WRITE)
        anonymous = self._resolver.anonymous(caller.client, name)
        key = anonymous.key if anonymous else self._resolver.keys(caller.client, [name]).get(name)
        if key is None:
            raise UnknownSubject("no customer with that subject id is known to this client")
        recorded = self.consents.record_for_client(
            client_id=caller.client.client_id,
            subject=key,
            anonymous=anonymous,
            purpose_id=purpose,
            decision=decision,
            collected_at=collected_at,
            locale=language,
            text_hash=text_hash,
            evidence=evidence,
        )
        return recorded, self.decisions.after_write(recorded, name)

    def set_mine(
        self, caller: Caller, purpose: str, allowed: bool, origin: Origin
    ) -> dict[str, Any]:
        viewed = self._me(caller)
        self.consents.set_choices(
            viewed.key,
            {purpose: allowed},
            origin=origin,
            source=f"api:{caller.client.client_id}",
            via=caller.client.client_id,
        )
        [(_, answer)] = self.decisions.answers_for(
            viewed.key, viewed.name, [self.decisions.purpose(purpose)]
        )
        return answer

    def visitor(self, caller: Caller, name: str, scope: str) -> AnonymousId:
        """One of the caller's own anonymous visitors, for what only the channel that keeps
        the visitor's id may do on their behalf (relay their browser's GPC signal, hand them
        a receipt). An account is refused: its customer acts with their own token
        (``/v1/me``) or in the preference center, never through a service."""
        caller.require(scope)
        anonymous = self._resolver.anonymous(caller.client, name)
        if anonymous is not None:
            return anonymous
        if not is_anonymous_name(name):
            raise PermissionDenied(
                "only for this client's anonymous visitors: a customer acts with their own "
                "token (/v1/me/consents, Sec-GPC: 1) or in the preference center"
            )
        raise UnknownSubject("no visitor with that anonymous id is known to this client")

    def gpc_for_visitor(self, caller: Caller, name: str) -> None:
        """``Sec-GPC: 1`` seen by a channel on its anonymous visitor's request, relayed by the
        channel's backend: the visitor's opt-out of sale/share, recorded as relayed by that
        channel (nothing when already applied)."""
        anonymous = self.visitor(caller, name, WRITE)
        self.consents.apply_gpc(
            anonymous.key, Origin(ip=""), via=caller.client.client_id, anonymous=anonymous
        )

    def gpc_for_me(self, caller: Caller, origin: Origin) -> None:
        """``Sec-GPC: 1`` from the customer's own app: their opt-out of sale/share, recorded
        as theirs, through this client."""
        self.consents.apply_gpc(self._me(caller).key, origin, via=caller.client.client_id)
