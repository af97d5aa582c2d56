"""The register of data subject requests. An erasure's row is its tombstone: it outlives the
account and names it only by its id (never an email, a name or an address)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class DsrRequest(Base):
    __tablename__ = "dsr_request"
    __table_args__ = (
        # At most one pending request of a kind per subject (asking twice is the same request).
        Index(
            "uq_dsr_request_pending",
            "subject",
            "kind",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_dsr_request_status_due_at", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject: Mapped[str] = mapped_column(String(64), index=True)  # the account id, as text
    kind: Mapped[str] = mapped_column(String(16))  # access | erasure
    status: Mapped[str] = mapped_column(String(16))  # pending | cancelled | done
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())  # not run before
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # one month (GDPR Art. 12(3))
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))  # an officer's; never personal
    # Audit references (identity.audit.refs): user:<id>, operator:<name>, system.
    requested_by: Mapped[str] = mapped_column(String(128))
    executed_by: Mapped[str | None] = mapped_column(String(128))
    cancelled_by: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts of what was done
