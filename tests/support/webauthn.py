"""A software authenticator: real WebAuthn responses for the tests, which py_webauthn verifies.

It does what a platform authenticator and the browser do together (WebAuthn Level 2 §6.1,
§6.3.2, §6.3.3, §5.8.1): an ES256 key per credential (``cryptography``), authenticator data
as the specification lays it out (RP id hash, flags, sign count, attested credential data),
the COSE key and the attestation object in CBOR (cbor2, through py_webauthn's helper), "none"
or "packed" self attestation, and the client data JSON the browser would sign. Every field a
test may want to get wrong (origin, RP id, challenge, sign count, user handle) can be
overridden per ceremony.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)  # "none" attestation: all zeros


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One passkey held by the authenticator."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftwareAuthenticator:
    origin: str = "http://testserver"
    synced: bool = False  # backup eligible (a synced passkey): "swk" rather than "hwk"
    counts: bool = True  # keeps a sign count (synced passkeys usually do not: always 0)
    credentials: list[Credential] = field(default_factory=list)

    # -- navigator.credentials.create ------------------------------------------------------

    def create(
        self,
        options_json: str | dict[str, Any],
        *,
        attestation: str = "none",
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        user_verified: bool = True,
    ) -> str:
        """The browser's answer to ``navigator.credentials.create`` for these options."""
        options = _load(options_json)
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            os.urandom(32),
            ec.generate_private_key(ec.SECP256R1()),
            rp,
            unb64url(options["user"]["id"]),
        )
        client_data = self._client_data(
            "webauthn.create", challenge or unb64url(options["challenge"]), origin
        )
        attested = AAGUID + struct.pack(">H", len(credential.credential_id))
        attested += credential.credential_id + credential.cose_key()
        auth_data = self._auth_data(rp, AT, 0, user_verified) + attested
        if attestation == "packed":  # self attestation: signed by the credential's own key
            signature = credential.key.sign(
                auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
            )
            statement: dict[str, Any] = {"alg": -7, "sig": signature}
        else:
            statement = {}
        attestation_object = encode_cbor(
            {"fmt": attestation, "attStmt": statement, "authData": auth_data}
        )
        self.credentials.append(credential)
        return json.dumps(
            {
                "id": b64url(credential.credential_id),
                "rawId": b64url(credential.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation_object),
                    "transports": ["internal", "hybrid"],
                },
            }
        )

    # -- navigator.credentials.get -----------------------------------------------------------

    def get(
        self,
        options_json: str | dict[str, Any],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        user_verified: bool = True,
    ) -> str:
        """The browser's answer to ``navigator.credentials.get``: the last credential made
        (or ``credential``) signs the challenge."""
        options = _load(options_json)
        chosen = credential or self.credentials[-1]
        if sign_count is None:
            if self.counts:
                chosen.sign_count += 1
            sign_count = chosen.sign_count
        rp = rp_id or options.get("rpId") or chosen.rp_id
        client_data = self._client_data(
            "webauthn.get", challenge or unb64url(options["challenge"]), origin
        )
        auth_data = self._auth_data(rp, 0, sign_count, user_verified)
        signature = chosen.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64url(chosen.credential_id),
                "rawId": b64url(chosen.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": b64url(
                        chosen.user_handle if user_handle is None else user_handle
                    ),
                },
            }
        )

    # -- the parts ---------------------------------------------------------------------------

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        # The browser's serialization (WebAuthn §5.8.1.1): type, challenge, origin, crossOrigin.
        return json.dumps(
            {
                "type": kind,
                "challenge": b64url(challenge),
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int, verified: bool) -> bytes:
        flags = UP | extra_flags | (UV if verified else 0)
        if self.synced:
            flags |= BE | BS
        return (
            hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        )


def _load(options: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(options) if isinstance(options, str) else options
