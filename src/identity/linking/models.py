"""Which accounts presented an anonymous id (to tell a shared device from a person)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class AnonymousPresentation(Base):
    """An account signed in with an anonymous id: one row per (id, account)."""

    __tablename__ = "anonymous_presentation"

    key: Mapped[str] = mapped_column(
        String(64), ForeignKey("anonymous_subject.key", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    presented_at: Mapped[datetime] = mapped_column(UTCDateTime())
