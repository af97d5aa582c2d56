"""Which upstream identities sign in to which account."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class UpstreamIdentity(Base):
    """An upstream provider's subject linked to an account: one account per (provider, sub),
    any number of upstream identities per account."""

    __tablename__ = "upstream_identity"
    __table_args__ = (UniqueConstraint("provider", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))  # the key in the providers file
    sub: Mapped[str] = mapped_column(String(255))  # the upstream's subject, as it sent it
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
