"""The links consent mail carries: double opt-in confirmation and one-click unsubscribe."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm
from sqlalchemy.orm import Session

from identity.consent.ledger import ConfirmationRequest
from identity.crypto import derive_key
from identity.db import utcnow
from identity.links import LinkClaims, LinkError, LinkPurpose, Links


class OneShotHMAC(HMACAlgorithm):
    """itsdangerous' HMAC-SHA256 through the standard library's one-shot ``hmac.digest``."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha256")


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a double opt-in link confirms: the pending record of a purpose."""

    claims: LinkClaims
    subject: str
    purpose_id: str
    record_id: str


class ConsentLinks:
    def __init__(self, secret: bytes, issuer: str, confirm_ttl: timedelta) -> None:
        self._issuer = issuer
        self._links = Links(secret, {LinkPurpose.confirm_consent: confirm_ttl})
        # One-click unsubscribe links (RFC 8058) sit in mail for a long time and only ever
        # withdraw, so they do not expire. A plain signer keeps them short and cheap to make:
        # every decision for a mail purpose carries one, up to a thousand per batch. The key
        # is already purpose-specific (HKDF), so itsdangerous need not derive one per
        # signature, and the one-shot ``hmac.digest`` avoids building an HMAC object each time.
        self._unsubscribe = Signer(
            derive_key(secret, "identity.unsubscribe"),
            key_derivation="none",
            algorithm=OneShotHMAC(),
        )

    # -- double opt-in ------------------------------------------------------------------------

    def confirmation_url(self, request: ConfirmationRequest) -> str:
        token = self._links.make(
            LinkPurpose.confirm_consent,
            request.subject,
            f"{request.purpose.id}:{request.record_id}",
        )
        return f"{self._issuer}/privacy/confirm?token={token}"

    def read_confirmation(self, token: str) -> Confirmation:
        """Check signature and age (raises :class:`LinkError`); does not use the link up."""
        claims = self._links.read(LinkPurpose.confirm_consent, token)
        purpose_id, _, record_id = claims.binding.partition(":")
        return Confirmation(claims, claims.user_id, purpose_id, record_id)

    def redeem(self, session: Session, confirmation: Confirmation) -> None:
        self._links.redeem(session, confirmation.claims, utcnow())

    # -- one-click unsubscribe ------------------------------------------------------------------

    def unsubscribe_url(self, subject: str, purpose_id: str) -> str:
        token = self._unsubscribe.sign(f"{subject}.{purpose_id}").decode()
        return f"{self._issuer}/unsubscribe/{token}"

    def read_unsubscribe(self, token: str) -> tuple[str, str]:
        """``(subject, purpose id)`` of a valid unsubscribe token (raises LinkError)."""
        try:
            value = self._unsubscribe.unsign(token[:300]).decode()
        except BadSignature as exc:
            raise LinkError("invalid") from exc
        subject, _, purpose_id = value.partition(".")
        if not subject or not purpose_id:
            raise LinkError("invalid")
        return subject, purpose_id
