"""Consent receipts: each record as a JWS signed with the provider key, verifiable by anyone
against ``/jwks``.

Fields follow the Kantara Consent Receipt 1.1 specification, on which ISO/IEC TS 27560 builds:
who the controller is, whose consent, for which purpose and version, on which legal basis,
when, how it was collected, in which jurisdiction and language, and the hash of the exact
text shown. The receipt is signed when it is downloaded (``iat``), with whatever key signs
then, so it always verifies against the currently published keys; the record it describes
is immutable.
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


def sign_receipt(claims: dict[str, Any], keys: KeyStore, alg: str) -> str:
    key = keys.signing_key(alg)
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": RECEIPT_TYPE}, claims, key)
