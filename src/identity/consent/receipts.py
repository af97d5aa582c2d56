"""Consent receipts: each record as a JWS signed with a receipt key, verifiable by anyone
against ``/receipts/jwks``, and the same facts as a page people can read.

Fields follow the Kantara Consent Receipt 1.1 specification, on which ISO/IEC TS 27560 builds:
who the controller is, whose consent, for which purpose and version, on which legal basis,
when, how it was collected, in which jurisdiction and language, and the hash of the exact
text shown. The receipt is signed when it is asked for (``iat``) with the receipt key that
signs then, and carries its ``kid``; the record it describes is immutable.

Receipt keys are not token keys: a token key leaves ``/jwks`` 15 minutes after it is
superseded, while a receipt is kept (and checked, by the customer, an authority, a court) for
as long as its record. Every receipt key ever used therefore stays in ``/receipts/jwks``
(``identity.oidc.keys``), and a receipt verifies there whatever rotations happened since.

:class:`Receipts` is the one place a receipt is put together, claims, token and the
:class:`ReceiptView` a page shows: the customer's receipt page uses it, and so can any console
that shows a subject's receipts (after its own authorization).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from joserfc import jwt

from identity.consent.models import ConsentRecord
from identity.consent.policy import LegalBasis, PolicyText, Purpose
from identity.consent.service import ConsentService
from identity.oidc.keys import Key, KeyStore
from identity.settings import Settings

RECEIPT_TYPE = "consent-receipt+jwt"
CONSENT_TYPE = {
    LegalBasis.consent: "EXPLICIT",
    LegalBasis.legitimate_interest: "LEGITIMATE_INTEREST",
    LegalBasis.contract: "CONTRACT",
}
POLICY_PAGE = "/privacy/purposes"
RECEIPT_KEYS = "/receipts/jwks"
# What the page offers as a check anyone can run (the tests run it too): Python is on most
# machines, and joserfc checks the signature and the algorithm before it decodes anything.
VERIFY_PYTHON = """\
import json
from joserfc import jwt
from joserfc.jwk import KeySet
keys = KeySet.import_key_set(json.load(open("receipt-keys.json")))
print(jwt.decode(open("{filename}").read().strip(), keys).claims)
"""


def policy_url(issuer: str, purpose: Purpose, version: str) -> str:
    """The policy page at the version's own text, or at the purpose when the purpose file no
    longer has that version (Kantara ``policyUrl``: the policy in effect when consent was
    obtained)."""
    text = purpose.text_of(version)
    return f"{issuer}{POLICY_PAGE}#{text.anchor if text else purpose.id}"


def receipt_claims(record: ConsentRecord, purpose: Purpose, settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "jti": f"consent-record-{record.id}",
        "version": "KI-CR-v1.1.0",
        "jurisdiction": settings.jurisdiction,
        "consentTimestamp": int(record.collected_at.timestamp()),
        "collectionMethod": record.source,
        "consentReceiptID": str(record.id),
        "language": record.language,
        "piiPrincipalId": record.subject,
        "piiControllers": [
            {"piiController": settings.brand_name, "contact": settings.mail_from, "url": issuer}
        ],
        "policyUrl": policy_url(issuer, purpose, record.purpose_version),
        "services": [
            {
                "service": settings.brand_name,
                "purposes": [
                    {
                        "purpose": purpose.title.get(record.language or "en"),
                        "purposeId": purpose.id,
                        "purposeVersion": record.purpose_version,
                        "purposeCategory": [purpose.category],
                        "consentType": CONSENT_TYPE[purpose.legal_basis],
                        "legalBasis": purpose.legal_basis.value,
                        "decision": record.decision,
                        "pendingConfirmation": record.pending,
                        "purposeTermination": (
                            int(record.expires_at.timestamp()) if record.expires_at else None
                        ),
                        "thirdPartyDisclosure": purpose.category == "sale_or_share",
                        "textHash": record.text_hash,
                    }
                ],
            }
        ],
    }


def sign_receipt(claims: dict[str, Any], key: Key) -> str:
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": RECEIPT_TYPE}, claims, key)


class Shown(StrEnum):
    """What the record's text hash tells about the text the customer saw."""

    policy = "policy"  # our text of that version, in that language: the hash proves it
    other = "other"  # a channel showed its own wording; only its hash is known
    unknown = "unknown"  # the purpose file no longer has that version's text
    none = "none"  # no text was shown (a browser signal, a choice carried over)


def proven_text(
    purpose: Purpose, version: str, language: str | None, text_hash: str | None
) -> tuple[PolicyText | None, Shown]:
    """Which of our texts a record's hash proves the customer was shown."""
    text = purpose.text_of(version)
    if text_hash is None:
        return text, Shown.none
    if text is None:
        return None, Shown.unknown
    if language is not None and text.text_hash(language) == text_hash:
        return text, Shown.policy
    return text, Shown.other


@dataclass(frozen=True)
class Collection:
    """How a decision was collected: the source, and the channel (a client) that collected
    it or where the customer first made it, with its name when it still exists."""

    source: str
    client_id: str | None
    channel: str | None


def collected_through(record: ConsentRecord) -> str | None:
    """The client a record was collected by (``api:<client>``) or merged from."""
    if record.source.startswith("api:"):
        return record.source.removeprefix("api:")
    channel = (record.evidence or {}).get("channel")
    return channel if isinstance(channel, str) else None


@dataclass(frozen=True)
class Controller:
    name: str
    contact: str
    url: str


@dataclass(frozen=True)
class ReceiptView:
    """A receipt as a page shows it: the facts the signed token states, the text shown, and
    the token itself with what is needed to verify it."""

    record_id: int
    subject: str  # the account (piiPrincipalId), never its email
    controller: Controller
    purpose: Purpose
    version: str
    text: PolicyText | None  # our text of that version, when the purpose file has it
    shown: Shown
    decision: str
    pending: bool
    legal_basis: LegalBasis
    collected_at: datetime
    expires_at: datetime | None
    collection: Collection
    jurisdiction: str
    language: str | None
    text_hash: str | None
    policy_url: str
    keys_url: str
    token: str
    kid: str
    alg: str
    claims: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"consent-receipt-{self.record_id}.jwt"

    @property
    def verify_example(self) -> str:
        """Shell commands that check the downloaded receipt with a widely available tool."""
        code = VERIFY_PYTHON.replace("{filename}", self.filename)
        return (
            f"curl -o receipt-keys.json {self.keys_url}\n"
            "python3 -m pip install joserfc\n"
            f"python3 - <<'EOF'\n{code}EOF"
        )


ChannelName = Callable[[str], str | None]


class Receipts:
    """Consent receipts: the token to keep and the view to read, for one record."""

    def __init__(
        self,
        *,
        settings: Settings,
        consent: ConsentService,
        keys: KeyStore,
        channel_name: ChannelName,
    ) -> None:
        self._settings = settings
        self._consent = consent
        self._keys = keys
        self._channel_name = channel_name

    def of_subject(self, subject: str, record_id: int) -> ReceiptView:
        """A subject's receipt; another subject's record is :class:`NotFound`, like none."""
        return self.receipt_for(self._consent.record_of(subject, record_id))

    def token_of_subject(self, subject: str, record_id: int) -> str:
        return self._sign(self._consent.record_of(subject, record_id))[0]

    def token_for(self, record: ConsentRecord) -> str:
        """The signed receipt of ``record``, whoever may have it (the caller has decided)."""
        return self._sign(record)[0]

    def receipt_for(self, record: ConsentRecord) -> ReceiptView:
        """The receipt of ``record``, whoever may see it (the caller has decided that)."""
        settings = self._settings
        purpose = self._consent.purpose(record.purpose)
        token, key, claims = self._sign(record)
        text, shown = proven_text(
            purpose, record.purpose_version, record.language, record.text_hash
        )
        client_id = collected_through(record)
        return ReceiptView(
            record_id=record.id,
            subject=record.subject,
            controller=Controller(settings.brand_name, settings.mail_from, settings.issuer),
            purpose=purpose,
            version=record.purpose_version,
            text=text,
            shown=shown,
            decision=record.decision,
            pending=record.pending,
            legal_basis=purpose.legal_basis,
            collected_at=record.collected_at,
            expires_at=record.expires_at,
            collection=Collection(
                record.source, client_id, self._channel_name(client_id) if client_id else None
            ),
            jurisdiction=settings.jurisdiction,
            language=record.language,
            text_hash=record.text_hash,
            policy_url=claims["policyUrl"],
            keys_url=f"{settings.issuer}{RECEIPT_KEYS}",
            token=token,
            kid=str(key.kid),
            alg=str(key.alg),
            claims=claims,
        )

    def _sign(self, record: ConsentRecord) -> tuple[str, Key, dict[str, Any]]:
        purpose = self._consent.purpose(record.purpose)
        claims = receipt_claims(record, purpose, self._settings)
        key = self._keys.signing_key(self._settings.signing_alg.value)
        return sign_receipt(claims, key), key, claims
