"""Consent receipts: each record as a JWS signed with a receipt key, verifiable by anyone
against ``/receipts/jwks``.

Fields follow the Kantara Consent Receipt 1.1 specification, on which ISO/IEC TS 27560 builds:
who the controller is, whose consent, for which purpose and version, on which legal basis,
when, how it was collected, in which jurisdiction and language, and the hash of the exact
text shown. The receipt is signed when it is downloaded (``iat``) with the receipt key that
signs then, and carries its ``kid``; the record it describes is immutable.

Receipt keys are not token keys: a token key leaves ``/jwks`` 15 minutes after it is
superseded, while a receipt is kept (and checked, by the customer, an authority, a court) for
as long as its record. Every receipt key ever used therefore stays in ``/receipts/jwks``
(``identity.oidc.keys``), and a receipt verifies there whatever rotations happened since.
"""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt

from identity.consent.models import ConsentRecord
from identity.consent.policy import LegalBasis, Purpose
from identity.oidc.keys import KeyStore
from identity.settings import Settings

RECEIPT_TYPE = "consent-receipt+jwt"
CONSENT_TYPE = {
    LegalBasis.consent: "EXPLICIT",
    LegalBasis.legitimate_interest: "LEGITIMATE_INTEREST",
    LegalBasis.contract: "CONTRACT",
}


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
        "policyUrl": f"{issuer}/privacy/purposes#{purpose.id}",
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


def sign_receipt(claims: dict[str, Any], receipt_keys: KeyStore, alg: str) -> str:
    key = receipt_keys.signing_key(alg)
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": RECEIPT_TYPE}, claims, key)
