"""The pairwise alias table: a pairwise ``sub`` mapped back to its account."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base


class SubjectAlias(Base):
    """A pairwise ``sub`` given to a sector at sign-in, so it can be resolved later."""

    __tablename__ = "subject_alias"

    sector: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
