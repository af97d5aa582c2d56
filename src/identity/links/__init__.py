"""Links mailed to customers: signed, expiring, single use.

Used for email verification, password reset and consent confirmation (double opt-in). A link
is an itsdangerous ``URLSafeTimedSerializer`` token (salted per purpose, so a verify token is
never a reset token) carrying a subject id, a random link id and a *binding*: the email for
verification, a fingerprint of the current password hash for reset (so every outstanding reset
link dies as soon as the password changes), the purpose and version for a consent. Redeeming
inserts the link id's hash into ``used_link``; the primary key makes a second redemption fail
even when two requests race.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity.crypto import derive_key, new_token, token_digest
from identity.errors import InvalidInput
from identity.links.models import UsedLink


class LinkPurpose(StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"
    confirm_consent = "confirm_consent"
    change_email = "change_email"  # to the new address; bound to the old one and the password


class LinkError(InvalidInput):
    """The link is unusable; ``reason`` is one of ``invalid``, ``expired``, ``used``."""

    slug = "bad-link"
    title = "This link cannot be used"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, reason=reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinkClaims:
    purpose: LinkPurpose
    user_id: str
    link_id: str
    binding: str


def password_binding(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


class Links:
    def __init__(self, secret: bytes, ttl: dict[LinkPurpose, timedelta]) -> None:
        key = derive_key(secret, "identity.links")
        self._serializers = {
            p: URLSafeTimedSerializer(key, salt=f"identity.link.{p.value}") for p in ttl
        }
        self._ttl = ttl

    def make(self, purpose: LinkPurpose, user_id: str, binding: str) -> str:
        return self._serializers[purpose].dumps({"u": user_id, "j": new_token(16), "b": binding})

    def read(self, purpose: LinkPurpose, token: str) -> LinkClaims:
        """Check signature and age; raises :class:`LinkError`. Does not consume the link."""
        try:
            data = self._serializers[purpose].loads(
                token, max_age=int(self._ttl[purpose].total_seconds())
            )
        except SignatureExpired as exc:
            raise LinkError("expired") from exc
        except BadSignature as exc:
            raise LinkError("invalid") from exc
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "ujb"):
            raise LinkError("invalid")
        return LinkClaims(purpose, data["u"], data["j"], data["b"])

    def redeem(self, session: Session, claims: LinkClaims, now: datetime) -> None:
        """Mark the link used within the caller's transaction; raises if it already was."""
        # Rows are only needed while the link could still verify; prune the expired ones.
        session.execute(delete(UsedLink).where(UsedLink.expires_at < now))
        try:
            with session.begin_nested():
                session.add(
                    UsedLink(
                        link_id_hash=token_digest(claims.link_id),
                        purpose=claims.purpose.value,
                        used_at=now,
                        expires_at=now + self._ttl[claims.purpose],
                    )
                )
        except IntegrityError as exc:
            raise LinkError("used") from exc
