"""Consent tables: the append-only ledger, the current-state projection, the feed counter,
and webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")
FEED_HEAD_ID = 1


class ConsentRecord(Base):
    """One decision, as it was made. Never updated, never deleted (erasure comes later)."""

    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The change feed's cursor, given once the record's audit entry is sequenced (gap-free).
    feed_seq: Mapped[int | None] = mapped_column(BigId, unique=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    purpose_version: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))  # granted | denied | withdrawn
    pending: Mapped[bool] = mapped_column(Boolean)  # a grant awaiting double opt-in
    source: Mapped[str] = mapped_column(String(80))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(8))
    text_hash: Mapped[str | None] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class ConsentState(Base):
    """The current answer per (subject, purpose); decisions read only this.

    A row exists only for a known subject (it is written with a record for an account, and
    erasing the account must delete it): the read model relies on this to look a subject up
    among the accounts only when it has no row (``consent.decisions``)."""

    __tablename__ = "consent_state"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # granted | pending | denied | withdrawn
    purpose_version: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[int] = mapped_column(ForeignKey("consent_record.id"))


class ConsentFeedHead(Base):
    """The last feed position given. Only the audit sequencer writes it (consent.feed)."""

    __tablename__ = "consent_feed_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscription"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_client.client_id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[str] = mapped_column(Text)  # needed in clear to sign: encrypted
    purposes: Mapped[list[str]] = mapped_column(JSON)  # empty: every purpose
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
