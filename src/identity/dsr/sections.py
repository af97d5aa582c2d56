"""How each table's rows about one customer are exported and erased (the registry,
:mod:`identity.dsr.coverage`, says which applies to which table).

Exporters return JSON-ready values: times in RFC 3339, no secrets, digests or keyed hashes
(a cookie's digest or an IP hash would tell the customer nothing and is not theirs to keep).
Erasers return how many rows they changed, for the tombstone's summary.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from identity.accounts.common import ACCOUNT_PREFIX
from identity.accounts.models import BrowserSession, KnownDevice, LoginThrottle, User, UserRole
from identity.audit.models import AuditEntryRow
from identity.consent.models import ConsentRecord, ConsentState
from identity.db import rfc3339
from identity.dsr.models import DsrRequest
from identity.dsr.rules import scrub
from identity.linking.models import AnonymousPresentation
from identity.mfa.models import RecoveryCode, TotpFactor
from identity.oidc.models import Grant, RefreshToken, RememberedConsent
from identity.subjects.models import AnonymousSubject, SubjectAlias


@dataclass(frozen=True)
class Person:
    """Everything a customer is known by, gathered before anything is exported or erased."""

    user_id: uuid.UUID
    throttle_keys: tuple[str, ...]  # the keyed hashes their email is counted under
    anonymous: tuple[str, ...]  # anonymous ids linked to them, not shared (keys, "a:...")
    personal: tuple[str, ...]  # their own strings, which no kept row may hold afterwards
    now: datetime

    @property
    def subject(self) -> str:
        """Their consent subject (and the DSR register's): the account id as text."""
        return str(self.user_id)

    @property
    def consent_subjects(self) -> list[str]:
        return [self.subject, *self.anonymous]

    @property
    def audit_refs(self) -> list[str]:
        return [f"user:{self.user_id}", *(f"visitor:{k}" for k in self.anonymous)]


@dataclass(frozen=True)
class ExportContext:
    """What exporters need besides the database: clients' names and signed receipts."""

    client_name: Callable[[str], str | None]
    receipt: Callable[[ConsentRecord], str | None]


Exporter = Callable[[Session, Person, ExportContext], Any]
Eraser = Callable[[Session, Person], int]


def _t(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


def kept(_session: Session, _person: Person) -> int:
    return 0


# -- exporters ---------------------------------------------------------------------------------


def account(session: Session, person: Person, _ctx: ExportContext) -> dict[str, Any]:
    user = session.get(User, person.user_id)
    assert user is not None
    return {
        "id": str(user.id),
        "email": user.email,
        "email_verified_at": _t(user.email_verified_at),
        "name": user.name,
        "locale": user.locale,
        "phone_number": user.phone_number,
        "phone_number_verified": user.phone_number_verified,
        "address": user.address,
        "created_at": _t(user.created_at),
        "updated_at": _t(user.updated_at),
        "password_changed_at": _t(user.password_changed_at),
        "disabled_at": _t(user.disabled_at),
        "disabled_reason": user.disabled_reason,
    }


def sessions(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(BrowserSession)
        .where(BrowserSession.user_id == person.user_id)
        .order_by(BrowserSession.created_at)
    )
    return [
        {
            "sid": r.sid,
            "created_at": _t(r.created_at),
            "auth_time": _t(r.auth_time),
            "last_seen_at": _t(r.last_seen_at),
            "expires_at": _t(r.expires_at),
            "methods": r.amr.split(),
            "user_agent": r.user_agent,
            "kept_signed_in": r.remember,
        }
        for r in rows
    ]


def known_devices(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(KnownDevice)
        .where(KnownDevice.user_id == person.user_id)
        .order_by(KnownDevice.first_seen_at)
    )
    # The digest names a browser's cookie; it is of no use to the customer and stays ours.
    return [
        {"first_seen_at": _t(r.first_seen_at), "last_seen_at": _t(r.last_seen_at)} for r in rows
    ]


def roles(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(UserRole).where(UserRole.user_id == person.user_id).order_by(UserRole.role)
    )
    return [
        {"role": r.role, "granted_at": _t(r.granted_at), "granted_by": r.granted_by} for r in rows
    ]


def second_factor(session: Session, person: Person, _ctx: ExportContext) -> dict[str, Any] | None:
    """Whether a factor is enrolled and its recovery codes' use, never the secret or hashes."""
    factor = session.get(TotpFactor, person.user_id)
    if factor is None:
        return None
    codes = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == person.user_id))
    return {
        "method": "totp",
        "created_at": _t(factor.created_at),
        "confirmed_at": _t(factor.confirmed_at),
        "recovery_codes": [
            {"created_at": _t(c.created_at), "used_at": _t(c.used_at)} for c in codes
        ],
    }


def throttles(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(person.throttle_keys)))
    return [
        {
            "counts": "sign_in" if r.key.startswith(ACCOUNT_PREFIX) else "mail",
            "failures": r.failures,
            "window_started_at": _t(r.window_started_at),
            "locked_until": _t(r.locked_until),
        }
        for r in rows
    ]


def grants(session: Session, person: Person, ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Grant).where(Grant.user_id == person.user_id).order_by(Grant.created_at)
    )
    return [
        {
            "client_id": r.client_id,
            "client": ctx.client_name(r.client_id),
            "scopes": r.scope.split(),
            "resource": r.resource,
            "sid": r.sid,
            "created_at": _t(r.created_at),
            "auth_time": _t(r.auth_time),
            "expires_at": _t(r.expires_at),
            "revoked_at": _t(r.revoked_at),
            "revoked_reason": r.revoked_reason,
        }
        for r in rows
    ]


def grants_of(person: Person) -> Any:
    return select(Grant.id).where(Grant.user_id == person.user_id).scalar_subquery()


def refresh_tokens(session: Session, person: Person, ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(RefreshToken)
        .where(RefreshToken.grant_id.in_(grants_of(person)))
        .order_by(RefreshToken.created_at)
    )
    return [
        {
            "client_id": r.client_id,
            "client": ctx.client_name(r.client_id),
            "scopes": r.scope.split(),
            "created_at": _t(r.created_at),
            "idle_expires_at": _t(r.idle_expires_at),
            "rotated_at": _t(r.rotated_at),
        }
        for r in rows
    ]


def apps(session: Session, person: Person, ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(RememberedConsent).where(RememberedConsent.user_id == person.user_id)
    )
    return [
        {
            "client_id": r.client_id,
            "client": ctx.client_name(r.client_id),
            "scopes": r.scope.split(),
            "granted_at": _t(r.granted_at),
        }
        for r in rows
    ]


def aliases(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(select(SubjectAlias).where(SubjectAlias.user_id == person.user_id))
    return [{"sector": r.sector, "sub": r.sub} for r in rows]


def consent_current(session: Session, person: Person, _ctx: ExportContext) -> list[Any]:
    rows = session.scalars(
        select(ConsentState)
        .where(ConsentState.subject.in_(person.consent_subjects))
        .order_by(ConsentState.subject, ConsentState.purpose)
    )
    return [
        {
            "subject": r.subject,
            "purpose": r.purpose,
            "status": r.status,
            "purpose_version": r.purpose_version,
            "decided_at": _t(r.decided_at),
            "expires_at": _t(r.expires_at),
            "source": r.source,
            "record_id": r.record_id,
        }
        for r in rows
    ]


def consent_records(session: Session, person: Person, ctx: ExportContext) -> list[Any]:
    rows = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subject.in_(person.consent_subjects))
        .order_by(ConsentRecord.id)
    )
    return [
        {
            "id": r.id,
            "subject": r.subject,
            "purpose": r.purpose,
            "purpose_version": r.purpose_version,
            "decision": r.decision,
            "pending": r.pending,
            "source": r.source,
            "collected_at": _t(r.collected_at),
            "recorded_at": _t(r.recorded_at),
            "expires_at": _t(r.expires_at),
            "language": r.language,
            "text_hash": r.text_hash,
            "user_agent": r.user_agent,
            "evidence": r.evidence,
            "feed_position": r.feed_seq,
            "receipt": ctx.receipt(r),  # a JWS, verifiable at /receipts/jwks
        }
        for r in rows
    ]


def anonymous(session: Session, person: Person, ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AnonymousSubject)
        .where(AnonymousSubject.user_id == person.user_id)
        .order_by(AnonymousSubject.created_at)
    )
    return [
        {
            "subject": r.key,
            "client_id": r.client_id,
            "client": ctx.client_name(r.client_id),
            "created_at": _t(r.created_at),
            "expires_at": _t(r.expires_at),
            "linked_at": _t(r.linked_at),
            # Shared: more accounts than the limit used it (a kiosk): its own choices and
            # audit entries are not exported as this customer's.
            "shared": r.shared,
        }
        for r in rows
    ]


def presentations(session: Session, person: Person, _ctx: ExportContext) -> list[Any]:
    rows = session.scalars(
        select(AnonymousPresentation).where(AnonymousPresentation.user_id == person.user_id)
    )
    return [{"subject": r.key, "presented_at": _t(r.presented_at)} for r in rows]


def requests(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(DsrRequest)
        .where(DsrRequest.subject == person.subject)
        .order_by(DsrRequest.requested_at)
    )
    return [
        {
            "id": str(r.id),
            "kind": r.kind,
            "status": r.status,
            "requested_at": _t(r.requested_at),
            "scheduled_for": _t(r.scheduled_for),
            "due_at": _t(r.due_at),
            "executed_at": _t(r.executed_at),
            "cancelled_at": _t(r.cancelled_at),
            "requested_by": r.requested_by,
            "reason": r.reason,
        }
        for r in rows
    ]


def audit(session: Session, person: Person, _ctx: ExportContext) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditEntryRow)
        .where(
            or_(
                AuditEntryRow.subject.in_(person.audit_refs),
                AuditEntryRow.actor == person.audit_refs[0],
            )
        )
        .order_by(AuditEntryRow.id)
    )
    return [
        {
            "index": r.leaf_index,  # its place in the log (None: not placed yet)
            "at": _t(r.at),
            "action": r.action,
            "actor": r.actor,
            "subject": r.subject,
            "details": r.details,
        }
        for r in rows
    ]


# -- erasers -----------------------------------------------------------------------------------


def delete_where(model: Any, *where: Callable[[Person], Any]) -> Eraser:
    def erase(session: Session, person: Person) -> int:
        return _rowcount(session.execute(delete(model).where(*(w(person) for w in where))))

    return erase


def unlink(session: Session, person: Person) -> int:
    """Linked anonymous ids go back to naming nobody, for good (``unlinked_at``): the visitor's
    own choices stay on the id, the account they led to is gone."""
    statement = (
        update(AnonymousSubject)
        .where(AnonymousSubject.user_id == person.user_id)
        .values(user_id=None, linked_at=None, unlinked_at=person.now)
    )
    return _rowcount(session.execute(statement))


def scrub_records(session: Session, person: Person) -> int:
    """Consent records stay as proof of what was decided, when and how; services' free-form
    evidence loses anything that names the customer."""
    changed = 0
    rows = session.scalars(
        select(ConsentRecord).where(ConsentRecord.subject.in_(person.consent_subjects))
    )
    for row in rows:
        cleaned = scrub(row.evidence, person.personal)
        if cleaned != row.evidence:
            row.evidence = cleaned
            changed += 1
    session.flush()
    return changed
