"""Consent receipts as the tests read them: the page's JWS, verification against a key set."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity.consent.models import ConsentRecord

ALGORITHMS = ["RS256", "ES256"]
_JWS = re.compile(r'<details class="jws">.*?<code>([^<]+)</code>', re.S)


def record_ids(runtime: Any) -> list[int]:
    """Every consent record's id, oldest first."""
    with runtime.db.read() as session:
        return list(session.scalars(select(ConsentRecord.id).order_by(ConsentRecord.id)))


def jws_on(html: str) -> str:
    """The compact JWS a receipt page shows in its <details> block."""
    match = _JWS.search(html)
    assert match, "no signed receipt on the page"
    return unescape(match.group(1)).strip()


def verify(token: str, jwks: dict[str, Any]) -> jwt.Token:
    """Check the signature against ``jwks`` (raises BadSignatureError) and decode."""
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)


def kids(jwks: dict[str, Any]) -> set[str]:
    return {k["kid"] for k in jwks["keys"]}
