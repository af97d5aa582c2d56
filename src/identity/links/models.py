"""Single-use links already redeemed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class UsedLink(Base):
    """Ids of single-use links already redeemed; the primary key makes redemption atomic."""

    __tablename__ = "used_link"

    link_id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
