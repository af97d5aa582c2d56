"""The two WebAuthn ceremonies, as py_webauthn performs them: options for the browser, and
the verification of what the authenticator answered. No I/O and no storage here.

Everything the specification asks of a relying party (WebAuthn Level 2 §7.1 and §7.2: the
client data's type, challenge and origin, the RP id hash, the user present and verified
flags, the attestation statement, the signature over authenticator data and client data,
the sign count) is checked by py_webauthn; this module only chooses the parameters and turns
every way a response can be wrong, malformed JSON included, into one :class:`Refused`.

Choices: discoverable credentials (``residentKey: required``), so that a passkey signs in
without typing the email first; user verification required, so a passkey alone is two
factors; attestation ``none`` (a retailer has no use for the authenticator's make, and asking
for it shows the shopper one more prompt); ES256, EdDSA and RS256 keys.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from identity.passkeys.rules import CEREMONY_TIMEOUT_MS, clean_transports

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CREDENTIAL_JSON_MAX = 64_000  # a response is a few hundred bytes (RSA: about 1,500)

# Whatever py_webauthn and the JSON it reads may raise on input a browser (or anyone) sent.
_BAD_INPUT = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, binascii.Error)


class Refused(Exception):
    """The response is not a valid answer to our challenge (``reason`` says which check)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the RP id is the issuer's host name (WebAuthn wants a
    domain: an IP address is never one), the origin the issuer's scheme, host and port."""

    id: str
    name: str
    origin: str

    @classmethod
    def for_issuer(cls, issuer: str, name: str) -> RelyingParty:
        parts = urlsplit(issuer)
        return cls(parts.hostname or "localhost", name, f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True, slots=True)
class Options:
    challenge: bytes
    json: str  # PublicKeyCredentialCreationOptions / RequestOptions, JSON as the browser wants


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential_id: str  # base64url
    public_key: bytes  # COSE_Key, as the authenticator sent it
    sign_count: int
    transports: str
    aaguid: str
    multi_device: bool
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True, slots=True)
class Assertion:
    sign_count: int
    multi_device: bool
    backed_up: bool
    user_verified: bool


def registration_options(
    rp: RelyingParty, *, user_handle: bytes, user_name: str, display_name: str, exclude: list[str]
) -> Options:
    """Options for ``navigator.credentials.create``; ``exclude`` lists the account's
    credential ids, so the same authenticator is not registered twice."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name or user_name,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(cid)) for cid in exclude
        ],
        supported_pub_key_algs=ALGORITHMS,
    )
    return Options(options.challenge, options_to_json(options))


def authentication_options(rp: RelyingParty) -> Options:
    """Options for ``navigator.credentials.get`` with no allow list: the browser offers the
    passkeys it holds for this RP (the button, and the autofill of the email field)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=CEREMONY_TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return Options(options.challenge, options_to_json(options))


def challenge_of(credential_json: str) -> bytes:
    """The challenge the browser signed, read from the response's client data: how the
    stored challenge is found. Only a lookup key: py_webauthn compares it again."""
    try:
        data = _object(credential_json)
        client_data = data["response"]["clientDataJSON"]
        if not isinstance(client_data, str):
            raise Refused("malformed")
        return parse_client_data_json(base64url_to_bytes(client_data)).challenge
    except _BAD_INPUT as exc:
        raise Refused("malformed") from exc


def credential_id_of(credential_json: str) -> str:
    """The credential id of an assertion (base64url), to find its public key."""
    try:
        credential = parse_authentication_credential_json(_object(credential_json))
        return bytes_to_base64url(credential.raw_id)
    except _BAD_INPUT as exc:
        raise Refused("malformed") from exc


def verify_registration(rp: RelyingParty, credential_json: str, challenge: bytes) -> NewCredential:
    try:
        data = _object(credential_json)
        credential = parse_registration_credential_json(data)
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except _BAD_INPUT as exc:
        raise Refused(_reason(exc)) from exc
    transports = credential.response.transports or []
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=clean_transports(t.value for t in transports),
        aaguid=verified.aaguid,
        multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def verify_authentication(
    rp: RelyingParty,
    credential_json: str,
    challenge: bytes,
    *,
    public_key: bytes,
    sign_count: int,
    user_handle: bytes,
) -> Assertion:
    """Verify an assertion against the stored key. A user handle in the response must be the
    account's (WebAuthn §7.2 step 6): a credential cannot speak for another account."""
    try:
        credential = parse_authentication_credential_json(_object(credential_json))
        presented = credential.response.user_handle
        if presented is not None and bytes(presented) != user_handle:
            raise Refused("wrong_user")
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except _BAD_INPUT as exc:
        raise Refused(_reason(exc)) from exc
    return Assertion(
        sign_count=verified.new_sign_count,
        multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def _object(credential_json: str) -> dict[str, Any]:
    if not credential_json or len(credential_json) > CREDENTIAL_JSON_MAX:
        raise Refused("malformed")
    data = json.loads(credential_json)
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        raise Refused("malformed")
    return data


def _reason(exc: Exception) -> str:
    """A short reason for the audit log (never the response's own text)."""
    text = str(exc).lower()
    for needle, reason in (
        ("sign count", "sign_count"),
        ("origin", "wrong_origin"),
        ("rp id", "wrong_rp_id"),
        ("challenge", "wrong_challenge"),
        ("user verification", "not_verified"),
        ("signature", "bad_signature"),
    ):
        if needle in text:
            return reason
    return "invalid"
