"""Second-factor tables. The TOTP secret is stored sealed (Fernet), recovery codes only as
keyed hashes: neither a database dump nor a log line yields a usable factor."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class TotpFactor(Base):
    """An account's authenticator app (one per account). Until ``confirmed_at`` is set the
    enrolment is unfinished and the factor counts for nothing."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # RFC 6238 §5.2: a code is accepted once. Only codes of a later time step are accepted.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """A single-use recovery code, as an HMAC under a key derived from the secret key."""

    __tablename__ = "mfa_recovery_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
