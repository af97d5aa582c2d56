"""Consent use cases: record decisions, answer decisions, confirm, unsubscribe, GPC, receipts.

Writing a decision is one transaction: lock the feed head, append the record, upsert the
current-state row, write the audit entry, enqueue the webhooks. Reading a decision touches
only the current-state row (and the account, to tell "unknown customer" from "never asked"),
with no cache, so a withdrawal is visible to the very next query on any worker.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.accounts.service import Origin
from identity.consent.models import (
    FEED_HEAD_ID,
    ConsentFeedHead,
    ConsentRecord,
    ConsentState,
)
from identity.consent.policy import Catalog, Purpose
from identity.consent.rules import (
    DECISIONS,
    Answer,
    State,
    change_for,
    collected_at_problem,
    decide,
    expiry,
    gpc_decision,
    needs_reconfirmation,
    status_after,
)
from identity.crypto import Pseudonyms, derive_key
from identity.db import Database, utcnow
from identity.errors import Conflict, InvalidInput, NotFound
from identity.links import LinkError, LinkPurpose, Links
from identity.settings import Settings

log = logging.getLogger(__name__)

SOURCES = (
    "preference_center",
    "signup",
    "consent_screen",
    "reconsent",
    "gpc",
    "unsubscribe",
    "double_opt_in",
    "import",
)


class OneShotHMAC(HMACAlgorithm):
    """itsdangerous' HMAC-SHA256 through the standard library's one-shot ``hmac.digest``."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha256")


class UnknownPurpose(NotFound):
    slug = "unknown-purpose"
    title = "Unknown purpose"


class UnknownSubject(NotFound):
    slug = "unknown-subject"
    title = "Unknown subject"


class NotSwitchable(Conflict):
    slug = "purpose-not-switchable"
    title = "This purpose cannot be refused"


class ConfirmationUnavailable(Conflict):
    slug = "confirmation-unavailable"
    title = "The confirmation message cannot be sent"


@dataclass(frozen=True)
class Recorded:
    record: ConsentRecord
    status: str
    purpose: Purpose


@dataclass(frozen=True)
class Overview:
    """A customer's current answers and full history (preference center, ``GET /v1``)."""

    answers: list[tuple[Purpose, Answer]]
    history: list[ConsentRecord]


@dataclass
class ConfirmationRequest:
    """A double opt-in message to send once the transaction has committed."""

    subject: str
    purpose: Purpose
    record_id: int
    locale: str


@dataclass
class _Batch:
    """What one write transaction produced, for after-commit work."""

    recorded: list[Recorded] = field(default_factory=list)
    confirmations: list[ConfirmationRequest] = field(default_factory=list)


def subject_key(user_id: uuid.UUID) -> str:
    """Consent subjects are account ids today; anonymous first-party ids will join them."""
    return str(user_id)


class ConsentService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        catalog: Catalog,
        pseudonyms: Pseudonyms,
    ) -> None:
        self._settings = settings
        self._db = db
        self.catalog = catalog
        self._pseudonyms = pseudonyms
        self._links = Links(
            settings.secret, {LinkPurpose.confirm_consent: settings.consent_confirm_ttl}
        )
        # One-click unsubscribe links (RFC 8058) sit in mail for a long time and only ever
        # withdraw, so they do not expire. A plain signer keeps them short and cheap to make:
        # every decision for a mail purpose carries one, up to a thousand per batch.
        # The key is already purpose-specific (HKDF), so itsdangerous need not derive one per
        # signature, and the one-shot ``hmac.digest`` avoids building an HMAC object each time.
        self._unsubscribe = Signer(
            derive_key(settings.secret, "identity.unsubscribe"),
            key_derivation="none",
            algorithm=OneShotHMAC(),
        )
        # Hooks wired by the runtime: who to tell after a change, how to send confirmations.
        self.after_record: list[Any] = []  # called inside the transaction: (session, Recorded)
        self.send_confirmation: Any = None  # (ConfirmationRequest, link) -> None

    # -- lookup ---------------------------------------------------------------------------

    def purpose(self, purpose_id: str) -> Purpose:
        purpose = self.catalog.get(purpose_id)
        if purpose is None:
            raise UnknownPurpose(f"no purpose {purpose_id!r}")
        return purpose

    # -- writing -----------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        batch: _Batch,
        *,
        subject: str,
        purpose: Purpose,
        decision: str,
        source: str,
        actor: str,
        origin: Origin | None,
        locale: str | None,
        collected_at: datetime | None = None,
        evidence: Mapping[str, Any] | None = None,
        confirmed: bool = False,
        text_hash: str | None = None,
        via: str | None = None,
    ) -> Recorded:
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}")
        if decision != "granted" and not purpose.switchable:
            raise NotSwitchable(f"{purpose.id} is necessary for your purchases")
        head = session.execute(
            select(ConsentFeedHead).where(ConsentFeedHead.id == FEED_HEAD_ID).with_for_update()
        ).scalar_one()
        head.seq += 1
        now = utcnow()
        status = status_after(purpose, decision, confirmed=confirmed)
        shown_locale = locale if locale in ("en", "es") else None
        record = ConsentRecord(
            feed_seq=head.seq,
            subject=subject,
            purpose=purpose.id,
            purpose_version=purpose.version,
            decision=decision,
            pending=status == "pending",
            source=source,
            collected_at=collected_at or now,
            recorded_at=now,
            expires_at=expiry(purpose, decision, collected_at or now),
            language=shown_locale,
            text_hash=text_hash or (purpose.text_hash(shown_locale) if shown_locale else None),
            ip_hash=self._pseudonyms.ip(origin.ip) if origin and origin.ip else None,
            user_agent=origin.user_agent[:200] if origin and origin.user_agent else None,
            evidence=dict(evidence or {}),
        )
        session.add(record)
        session.flush()
        state = session.get(ConsentState, (subject, purpose.id))
        if state is None:
            state = ConsentState(subject=subject, purpose=purpose.id)
            session.add(state)
        state.status = status
        state.purpose_version = purpose.version
        state.decided_at = record.collected_at
        state.expires_at = record.expires_at
        state.source = source
        state.record_id = record.id
        audit.record(
            session,
            "consent.recorded",
            actor=actor,
            subject=f"user:{subject}",
            details={
                "purpose": purpose.id,
                "version": purpose.version,
                "decision": decision,
                "status": status,
                "source": source,
                "record_id": record.id,
                **({"via_client": via} if via else {}),
            },
        )
        recorded = Recorded(record, status, purpose)
        for listener in self.after_record:
            listener(session, recorded)
        batch.recorded.append(recorded)
        if status == "pending":
            batch.confirmations.append(
                ConfirmationRequest(subject, purpose, record.id, shown_locale or "en")
            )
        return recorded

    def _after_commit(self, batch: _Batch) -> None:
        for request in batch.confirmations:
            token = self._links.make(
                LinkPurpose.confirm_consent,
                request.subject,
                f"{request.purpose.id}:{request.record_id}",
            )
            link = f"{self._settings.issuer}/privacy/confirm?token={token}"
            if self.send_confirmation is not None:
                self.send_confirmation(request, link)

    def _current_states(self, session: Session, subject: str) -> dict[str, State]:
        rows = session.scalars(select(ConsentState).where(ConsentState.subject == subject))
        return {r.purpose: _state(r) for r in rows}

    def set_choices(
        self,
        user: User,
        choices: Mapping[str, bool],
        *,
        origin: Origin,
        source: str = "preference_center",
        via: str | None = None,
    ) -> list[Recorded]:
        """Apply a customer's choices; only purposes whose answer changes get a record.
        ``via``: the client the customer acted through (their app), named in the audit."""
        purposes = [self.purpose(p) for p in choices]
        if any(p.channel == "sms" and choices[p.id] for p in purposes) and not user.phone_number:
            raise ConfirmationUnavailable("add a phone number to your account first")
        subject = subject_key(user.id)
        batch = _Batch()
        now = utcnow()
        with self._db.transaction() as session:
            states = self._current_states(session, subject)
            for purpose in purposes:
                decision = change_for(purpose, states.get(purpose.id), choices[purpose.id], now)
                if decision is None:
                    continue
                self._record(
                    session,
                    batch,
                    subject=subject,
                    purpose=purpose,
                    decision=decision,
                    source=source,
                    actor=f"user:{user.id}",
                    origin=origin,
                    locale=origin.locale,
                    via=via,
                )
        self._after_commit(batch)
        return batch.recorded

    def withdraw_all(self, user: User, *, origin: Origin) -> list[Recorded]:
        """As easy to withdraw as to give (GDPR Art. 7(3)): one action for everything."""
        return self.set_choices(
            user, {p.id: False for p in self.catalog if p.switchable}, origin=origin
        )

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
    ) -> Recorded:
        """A service that collected consent elsewhere (in-store POS, call centre) records it.

        The service is the collector (``source api:<client>``, the audit's actor). The
        customer's own origin (IP, user agent) is taken only from what the service reports in
        ``evidence`` (``ip``, ``user_agent``), stored as such: the IP as a keyed hash, never
        raw, and ``origin_reported_by`` naming the client. The calling service's own address
        and user agent are never recorded as the customer's."""
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
        evidence = dict(evidence)
        reported_ip, reported_agent = evidence.pop("ip", None), evidence.pop("user_agent", None)
        reported = Origin(
            ip=str(reported_ip) if reported_ip else "",
            user_agent=str(reported_agent)[:400] if reported_agent else "",
        )
        if reported_ip or reported_agent:
            evidence["origin_reported_by"] = client_id
        batch = _Batch()
        with self._db.transaction() as session:
            if session.get(User, uuid.UUID(subject)) is None:
                raise UnknownSubject("no such customer")
            recorded = self._record(
                session,
                batch,
                subject=subject,
                purpose=purpose,
                decision=decision,
                source=f"api:{client_id}",
                actor=f"client:{client_id}",
                origin=reported,
                locale=locale,
                collected_at=collected_at,
                evidence=evidence,
                text_hash=text_hash,
            )
        self._after_commit(batch)
        return recorded

    def confirm(self, token: str, origin: Origin) -> Recorded:
        """Use a double opt-in link: the pending grant becomes a grant."""
        try:
            claims = self._links.read(LinkPurpose.confirm_consent, token)
        except LinkError as exc:
            raise LinkProblem(exc.reason) from exc
        purpose_id, _, record_id = claims.binding.partition(":")
        purpose = self.purpose(purpose_id)
        batch = _Batch()
        try:
            with self._db.transaction() as session:
                self._links.redeem(session, claims, utcnow())
                state = session.get(ConsentState, (claims.user_id, purpose.id))
                if state is None or state.status != "pending" or str(state.record_id) != record_id:
                    raise LinkProblem("used")
                recorded = self._record(
                    session,
                    batch,
                    subject=claims.user_id,
                    purpose=purpose,
                    decision="granted",
                    source="double_opt_in",
                    actor=f"user:{claims.user_id}",
                    origin=origin,
                    locale=origin.locale,
                    confirmed=True,
                    evidence={"confirms_record": int(record_id)},
                )
        except LinkError as exc:
            raise LinkProblem(exc.reason) from exc
        self._after_commit(batch)
        return recorded

    def peek_confirmation(self, token: str) -> Purpose | None:
        """The purpose a confirmation link is for, without using it (for the page)."""
        try:
            claims = self._links.read(LinkPurpose.confirm_consent, token)
        except LinkError:
            return None
        return self.catalog.get(claims.binding.partition(":")[0])

    def unsubscribe_token(self, subject: str, purpose_id: str) -> str:
        return self._unsubscribe.sign(f"{subject}.{purpose_id}").decode()

    def unsubscribe_url(self, subject: str, purpose_id: str) -> str:
        return f"{self._settings.issuer}/unsubscribe/{self.unsubscribe_token(subject, purpose_id)}"

    def read_unsubscribe(self, token: str) -> tuple[str, Purpose]:
        try:
            value = self._unsubscribe.unsign(token[:300]).decode()
        except BadSignature as exc:
            raise LinkProblem("invalid") from exc
        subject, _, purpose_id = value.partition(".")
        purpose = self.catalog.get(purpose_id)
        if not subject or purpose is None or not purpose.switchable:
            raise LinkProblem("invalid")
        return subject, purpose

    def unsubscribe(self, token: str, origin: Origin) -> Recorded | None:
        """RFC 8058 one-click unsubscribe: idempotent, no login, no cookie."""
        subject, purpose = self.read_unsubscribe(token)
        batch = _Batch()
        with self._db.transaction() as session:
            state = session.get(ConsentState, (subject, purpose.id))
            if state is not None and state.status in ("denied", "withdrawn"):
                return None
            recorded = self._record(
                session,
                batch,
                subject=subject,
                purpose=purpose,
                decision="withdrawn" if state is not None else "denied",
                source="unsubscribe",
                actor=f"user:{subject}",
                origin=origin,
                locale=None,
            )
        self._after_commit(batch)
        return recorded

    def apply_gpc(self, subject: str, origin: Origin, *, via: str | None = None) -> list[Recorded]:
        """``Sec-GPC: 1`` from this customer's own browser or app: opt them out of
        sale/sharing, once per purpose. A choice the customer makes afterwards (allowing it
        again, explicitly) wins: the signal is not re-applied over it. Callers must have
        authenticated the customer first (their session, or their own token)."""
        sale_or_share = self.catalog.in_category("sale_or_share")
        with self._db.read() as session:
            states = self._current_states(session, subject)
            applied = set(
                session.scalars(
                    select(ConsentRecord.purpose).where(
                        ConsentRecord.subject == subject, ConsentRecord.source == "gpc"
                    )
                )
            )
        todo = [
            p
            for p in sale_or_share
            if p.id not in applied and gpc_decision(p, states.get(p.id)) is not None
        ]
        if not todo:
            return []
        batch = _Batch()
        with self._db.transaction() as session:
            states = self._current_states(session, subject)
            for purpose in todo:
                decision = gpc_decision(purpose, states.get(purpose.id))
                if decision is None:
                    continue
                self._record(
                    session,
                    batch,
                    subject=subject,
                    purpose=purpose,
                    decision=decision,
                    source="gpc",
                    actor=f"user:{subject}",
                    origin=origin,
                    locale=origin.locale,
                    evidence={"signal": "Sec-GPC: 1"},
                    via=via,
                )
        self._after_commit(batch)
        return batch.recorded

    def reconfirm(
        self, user: User, purpose_ids: Iterable[str], *, keep: bool, origin: Origin
    ) -> list[Recorded]:
        """The answer to the re-consent interstitial shown after a major version bump."""
        batch = _Batch()
        subject = subject_key(user.id)
        with self._db.transaction() as session:
            states = self._current_states(session, subject)
            for purpose_id in purpose_ids:
                purpose = self.purpose(purpose_id)
                if not needs_reconfirmation(purpose, states.get(purpose.id), utcnow()):
                    continue
                self._record(
                    session,
                    batch,
                    subject=subject,
                    purpose=purpose,
                    decision="granted" if keep else "withdrawn",
                    source="reconsent",
                    actor=f"user:{user.id}",
                    origin=origin,
                    locale=origin.locale,
                )
        self._after_commit(batch)
        return batch.recorded

    # -- reading -----------------------------------------------------------------------------

    def answers(
        self, subjects: Sequence[str], purpose_ids: Sequence[str]
    ) -> dict[tuple[str, str], Answer]:
        """Answers for every (subject, purpose) pair in one query."""
        purposes = [self.purpose(p) for p in purpose_ids]
        now = utcnow()
        with self._db.read() as session:
            rows = (
                session.scalars(
                    select(ConsentState).where(
                        ConsentState.subject.in_(list(subjects)),
                        ConsentState.purpose.in_([p.id for p in purposes]),
                    )
                ).all()
                if subjects
                else []
            )
            states = {(r.subject, r.purpose): _state(r) for r in rows}
        return {
            (subject, purpose.id): decide(purpose, states.get((subject, purpose.id)), now)
            for subject in subjects
            for purpose in purposes
        }

    def answer(self, subject: str, purpose_id: str) -> Answer:
        return self.answers([subject], [purpose_id])[(subject, purpose_id)]

    def overview(self, subject: str) -> Overview:
        now = utcnow()
        with self._db.read() as session:
            states = self._current_states(session, subject)
            history = list(
                session.scalars(
                    select(ConsentRecord)
                    .where(ConsentRecord.subject == subject)
                    .order_by(ConsentRecord.feed_seq.desc())
                    .limit(500)
                )
            )
        return Overview([(p, decide(p, states.get(p.id), now)) for p in self.catalog], history)

    def to_reconfirm(self, subject: str) -> list[Purpose]:
        now = utcnow()
        with self._db.read() as session:
            states = self._current_states(session, subject)
        return [p for p in self.catalog if needs_reconfirmation(p, states.get(p.id), now)]

    def record_of(self, subject: str, record_id: int) -> ConsentRecord:
        with self._db.read() as session:
            record = session.get(ConsentRecord, record_id)
        if record is None or record.subject != subject:
            raise NotFound("no such record")
        return record

    def changes(self, after: int, limit: int) -> list[ConsentRecord]:
        """Records in feed order after the cursor (``feed_seq``)."""
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(ConsentRecord)
                    .where(ConsentRecord.feed_seq > after)
                    .order_by(ConsentRecord.feed_seq)
                    .limit(limit)
                )
            )

    def existing_subjects(self, subjects: Sequence[str]) -> set[str]:
        ids = []
        for s in subjects:
            try:
                ids.append(uuid.UUID(s))
            except ValueError:
                continue
        if not ids:
            return set()
        with self._db.read() as session:
            found = session.scalars(select(User.id).where(User.id.in_(ids)))
            return {str(i) for i in found}


class LinkProblem(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _state(row: ConsentState) -> State:
    return State(
        row.status, row.purpose_version, row.decided_at, row.expires_at, row.record_id, row.source
    )
