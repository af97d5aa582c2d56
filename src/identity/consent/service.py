"""Consent use cases that write: a customer's choices, a service's record, a confirmation link,
one-click unsubscribe, GPC, re-consent; and the ledger's own reads (history, the feed).

Every write goes through :class:`~identity.consent.ledger.Ledger` (one transaction per use
case). Answers ("may we?") are the read model's business: :mod:`identity.consent.decisions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from identity.accounts.models import User
from identity.audit.refs import Actor
from identity.consent.decisions import UnknownSubject
from identity.consent.ledger import (
    STATE,
    STATE_COLUMNS,
    Ledger,
    NewRecord,
    Recorded,
    RecordView,
    state_of,
)
from identity.consent.links import ConsentLinks
from identity.consent.models import ConsentRecord
from identity.consent.policy import Catalog, Purpose
from identity.consent.rules import (
    anonymous_decision_problem,
    change_for,
    collected_at_problem,
    gpc_decision,
    needs_reconfirmation,
)
from identity.context import Origin
from identity.db import Database, utcnow
from identity.errors import Conflict, InvalidInput, NotFound
from identity.links import LinkError
from identity.settings import Settings
from identity.subjects.anonymous import AnonymousId, is_anonymous_key
from identity.subjects.service import note_anonymous

HISTORY_LIMIT = 500


class ConfirmationUnavailable(Conflict):
    slug = "confirmation-unavailable"
    title = "The confirmation message cannot be sent"


@dataclass(frozen=True)
class Choices:
    """What applying a customer's choices did: the records written, and the purposes left
    unchanged because they need something the account lacks (a phone number for SMS)."""

    recorded: list[Recorded] = field(default_factory=list)
    need_phone: list[str] = field(default_factory=list)


def subject_key(user_id: uuid.UUID) -> str:
    """An account's stored consent subject (its id as text)."""
    return str(user_id)


def _reported_origin(evidence: Mapping[str, Any], client_id: str) -> tuple[Origin, dict[str, Any]]:
    """The customer's origin as a service reports it in ``evidence`` (``ip``, ``user_agent``),
    and the evidence to keep: the raw IP never stays, and who reported the origin is said."""
    kept = dict(evidence)
    ip, agent = kept.pop("ip", None), kept.pop("user_agent", None)
    if ip or agent:
        kept["origin_reported_by"] = client_id
    return Origin(ip=str(ip) if ip else "", user_agent=str(agent)[:400] if agent else ""), kept


class ConsentService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        catalog: Catalog,
        ledger: Ledger,
        links: ConsentLinks,
    ) -> None:
        self._settings = settings
        self._db = db
        self.catalog = catalog
        self.ledger = ledger
        self.links = links

    def purpose(self, purpose_id: str) -> Purpose:
        return self.catalog.require(purpose_id)

    # -- the customer -------------------------------------------------------------------------

    def set_choices(
        self,
        subject: str,
        choices: Mapping[str, bool],
        *,
        origin: Origin,
        source: str = "preference_center",
        via: str | None = None,
    ) -> Choices:
        """Apply a customer's choices; only purposes whose answer changes get a record. SMS
        needs a phone number on the account: such a grant is left out (and said so), every
        other choice is kept. ``via``: the client the customer acted through (their app)."""
        purposes = [self.purpose(p) for p in choices]
        need_phone: list[str] = []
        now = utcnow()
        with self.ledger.writing() as writes:
            if not hold_account(writes.session, subject):
                return Choices([], [])  # erased meanwhile: nothing to write for anyone
            user = writes.session.get(User, uuid.UUID(subject))
            states = writes.states(subject)
            for purpose in purposes:
                want = choices[purpose.id]
                if purpose.channel == "sms" and want and not (user and user.phone_number):
                    need_phone.append(purpose.id)
                    continue
                decision = change_for(purpose, states.get(purpose.id), want, now)
                if decision is not None:
                    writes.append(
                        NewRecord(
                            subject=subject,
                            purpose=purpose,
                            decision=decision,
                            source=source,
                            actor=Actor.user(subject),
                            origin=origin,
                            locale=origin.locale,
                            via=via,
                        )
                    )
        return Choices(writes.recorded, need_phone)

    def withdraw_all(self, subject: str, *, origin: Origin) -> Choices:
        """As easy to withdraw as to give (GDPR Art. 7(3)): one action for everything."""
        choices = {p.id: False for p in self.catalog if p.switchable}
        return self.set_choices(subject, choices, origin=origin)

    def reconfirm(
        self, subject: str, purpose_ids: Iterable[str], *, keep: bool, origin: Origin
    ) -> list[Recorded]:
        """The answer to the re-consent interstitial shown after a major version bump."""
        with self.ledger.writing() as writes:
            if not _holds_subject(writes.session, subject):
                return []
            states = writes.states(subject)
            for purpose in (self.purpose(p) for p in purpose_ids):
                if needs_reconfirmation(purpose, states.get(purpose.id), utcnow()):
                    writes.append(
                        NewRecord(
                            subject=subject,
                            purpose=purpose,
                            decision="granted" if keep else "withdrawn",
                            source="reconsent",
                            actor=Actor.user(subject),
                            origin=origin,
                            locale=origin.locale,
                        )
                    )
        return writes.recorded

    def apply_gpc(
        self,
        subject: str,
        origin: Origin,
        *,
        via: str | None = None,
        anonymous: AnonymousId | None = None,
    ) -> list[Recorded]:
        """``Sec-GPC: 1`` from this customer's own browser or app: opt them out of
        sale/sharing, once per purpose. A choice the customer makes afterwards (allowing it
        again, explicitly) wins: the signal is not re-applied over it. Callers must have
        authenticated the customer first (their session, or their own token), or verified
        the ``anonymous`` visitor's id as the channel ``via``'s, which relayed the signal."""
        sale_or_share = self.catalog.in_category("sale_or_share")
        with self._db.read() as session:  # most requests: nothing to do, no write lock
            if not self._gpc_todo(session, subject, sale_or_share):
                return []
        # A visitor's signal reaches us only through the channel that relayed it: the actor.
        relayed_by = via if anonymous is not None else None
        actor = Actor.client(relayed_by) if relayed_by else Actor.user(subject)
        evidence = {"signal": "Sec-GPC: 1", **({"relayed_by": relayed_by} if relayed_by else {})}
        with self.ledger.writing() as writes:
            if anonymous is not None:
                note_anonymous(writes.session, anonymous)
            elif not _holds_subject(writes.session, subject):
                return []
            for purpose, decision in self._gpc_todo(writes.session, subject, sale_or_share):
                writes.append(
                    NewRecord(
                        subject=subject,
                        purpose=purpose,
                        decision=decision,
                        source="gpc",
                        actor=actor,
                        origin=origin,
                        locale=origin.locale,
                        evidence=evidence,
                        via=via,
                    )
                )
        return writes.recorded

    def _gpc_todo(
        self, session: Session, subject: str, purposes: list[Purpose]
    ) -> list[tuple[Purpose, str]]:
        rows = session.execute(select(*STATE_COLUMNS).where(STATE.c.subject == subject))
        states = {r.purpose: r for r in rows}
        applied = set(
            session.scalars(
                select(ConsentRecord.purpose).where(
                    ConsentRecord.subject == subject, ConsentRecord.source == "gpc"
                )
            )
        )
        todo = []
        for purpose in purposes:
            state = states.get(purpose.id)
            decision = gpc_decision(purpose, state_of(state) if state else None)
            if purpose.id not in applied and decision is not None:
                todo.append((purpose, decision))
        return todo

    # -- services ------------------------------------------------------------------------------

    def record_for_client(
        self,
        *,
        client_id: str,
        subject: str,
        purpose_id: str,
        decision: str,
        collected_at: datetime | None,
        locale: str | None,
        text_hash: str | None,
        evidence: Mapping[str, Any],
        anonymous: AnonymousId | None = None,
    ) -> Recorded:
        """A service that collected consent elsewhere (in-store POS, call centre, a channel's
        cookie banner for an anonymous visitor) records it.

        The service is the collector (``source api:<client>``, the audit's actor). The
        customer's own origin comes only from what the service reports (see
        :func:`_reported_origin`); the calling service's address and user agent are never
        recorded as the customer's."""
        purpose = self.purpose(purpose_id)
        if collected_at is not None:
            problem = collected_at_problem(
                collected_at,
                utcnow(),
                max_age=self._settings.consent_collected_max_age,
                skew=self._settings.consent_clock_skew,
            )
            if problem:
                raise InvalidInput(
                    f"collected_at {problem}",
                    errors=[{"loc": ["body", "collected_at"], "msg": problem}],
                )
        if anonymous is not None and (problem := anonymous_decision_problem(purpose, decision)):
            raise InvalidInput(
                f"{purpose.id} {problem}", errors=[{"loc": ["body", "decision"], "msg": problem}]
            )
        origin, kept = _reported_origin(evidence, client_id)
        with self.ledger.writing() as writes:
            if anonymous is not None:
                note_anonymous(writes.session, anonymous)
            elif not hold_account(writes.session, subject):
                raise UnknownSubject("no customer with that subject id is known to this client")
            return writes.append(
                NewRecord(
                    subject=subject,
                    purpose=purpose,
                    decision=decision,
                    source=f"api:{client_id}",
                    actor=Actor.client(client_id),
                    origin=origin,
                    locale=locale,
                    collected_at=collected_at,
                    evidence=kept,
                    text_hash=text_hash,
                )
            )

    # -- links in mail -------------------------------------------------------------------------

    def confirm(self, token: str, origin: Origin) -> Recorded:
        """Use a double opt-in link: the pending grant becomes a grant (raises LinkError)."""
        confirmation = self.links.read_confirmation(token)
        purpose = self.purpose(confirmation.purpose_id)
        with self.ledger.writing() as writes:
            if not _holds_subject(writes.session, confirmation.subject):
                raise LinkError("invalid")  # erased: a link in an old mail brings nobody back
            self.links.redeem(writes.session, confirmation)
            state = writes.states(confirmation.subject).get(purpose.id)
            if state is None or state.status != "pending":
                raise LinkError("used")
            if str(state.record_id) != confirmation.record_id:
                raise LinkError("used")
            return writes.append(
                NewRecord(
                    subject=confirmation.subject,
                    purpose=purpose,
                    decision="granted",
                    source="double_opt_in",
                    actor=Actor.user(confirmation.subject),
                    origin=origin,
                    locale=origin.locale,
                    confirmed=True,
                    evidence={"confirms_record": int(confirmation.record_id)},
                )
            )

    def peek_confirmation(self, token: str) -> Purpose | None:
        """The purpose a confirmation link is for, without using it (for the page)."""
        try:
            return self.catalog.get(self.links.read_confirmation(token).purpose_id)
        except LinkError:
            return None

    def unsubscribe_url(self, subject: str, purpose_id: str) -> str:
        return self.links.unsubscribe_url(subject, purpose_id)

    def read_unsubscribe(self, token: str) -> tuple[str, Purpose]:
        """The subject and purpose of an unsubscribe link (raises LinkError)."""
        subject, purpose_id = self.links.read_unsubscribe(token)
        purpose = self.catalog.get(purpose_id)
        if purpose is None or not purpose.switchable:
            raise LinkError("invalid")
        return subject, purpose

    def unsubscribe(self, token: str, origin: Origin) -> Recorded | None:
        """RFC 8058 one-click unsubscribe: idempotent, no login, no cookie."""
        subject, purpose = self.read_unsubscribe(token)
        with self.ledger.writing() as writes:
            if not _holds_subject(writes.session, subject):
                return None  # erased: a link in an old mail must not bring a subject back
            state = writes.states(subject).get(purpose.id)
            if state is not None and state.status in ("denied", "withdrawn"):
                return None
            return writes.append(
                NewRecord(
                    subject=subject,
                    purpose=purpose,
                    decision="withdrawn" if state is not None else "denied",
                    source="unsubscribe",
                    actor=Actor.user(subject),
                    origin=origin,
                )
            )

    # -- the ledger's own reads ----------------------------------------------------------------

    def history(self, subject: str, limit: int = HISTORY_LIMIT) -> list[RecordView]:
        """A subject's records, newest first."""
        with self._db.read() as session:
            rows = session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.subject == subject)
                # A record is placed in the feed a moment after its commit: until then it is
                # the newest there is.
                .order_by(ConsentRecord.feed_seq.desc().nulls_first(), ConsentRecord.id.desc())
                .limit(limit)
            )
            return [RecordView.of(r) for r in rows]

    def record_of(self, subject: str, record_id: int) -> ConsentRecord:
        """One of a subject's records, whole (receipts need every field)."""
        with self._db.read() as session:
            record = session.get(ConsentRecord, record_id)
        if record is None or record.subject != subject:
            raise NotFound("no such record")
        return record

    def changes(self, after: int, limit: int) -> list[RecordView]:
        """Records in feed order after the cursor (``feed_seq``)."""
        with self._db.read() as session:
            rows = session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.feed_seq > after)
                .order_by(ConsentRecord.feed_seq)
                .limit(limit)
            )
            return [RecordView.of(r) for r in rows]


def hold_account(session: Session, subject: str) -> bool:
    """Whether the account exists, and it is held so until the write commits: on PostgreSQL the row
    is share-locked (``FOR KEY SHARE``), so an erasure (which locks it ``FOR UPDATE`` first)
    either waits for this write and then removes what it wrote, or goes first and this write
    finds no account. SQLite has one writer at a time."""
    found = session.execute(ACCOUNT_EXISTS, {"id": uuid.UUID(subject)})
    return found.first() is not None


def _holds_subject(session: Session, subject: str) -> bool:
    """An account subject is held (:func:`hold_account`); an anonymous one needs nothing."""
    return is_anonymous_key(subject) or hold_account(session, subject)


_USERS = User.__table__
ACCOUNT_EXISTS = (  # built once
    select(_USERS.c.id)
    .where(_USERS.c.id == bindparam("id"))
    .with_for_update(read=True, key_share=True)
)
