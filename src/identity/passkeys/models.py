"""Passkey tables: the credentials an account registered, and the challenges in flight.

A credential row holds only public material (the COSE public key and the credential id): a
database dump yields nothing that signs in. A challenge is kept as its SHA-256 only, with a
digest of the browser's own cookie, so it is single-use (deleted when presented), short-lived
and accepted only from the browser it was given to.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class PasskeyCredential(Base):
    __tablename__ = "passkey_credential"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    # base64url; WebAuthn allows ids of up to 1,023 bytes (1,364 characters).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[str] = mapped_column(String(100))  # space-separated hints
    name: Mapped[str | None] = mapped_column(String(60))  # None: "Passkey on <device>"
    device: Mapped[str] = mapped_column(String(60))  # browser and system it was made on
    aaguid: Mapped[str] = mapped_column(String(36))
    multi_device: Mapped[bool]  # synced (backup eligible): "swk" rather than "hwk"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasskeyChallenge(Base):
    __tablename__ = "passkey_challenge"

    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # rules.Purpose
    browser_hash: Mapped[str] = mapped_column(String(64))
    # Registration only: the account the passkey is being added to.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
