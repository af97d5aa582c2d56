"""Second-factor rules as pure functions: which time step a code belongs to, whether it may be
accepted, how codes are typed and shown, and what the officer gate asks for.

TOTP is RFC 6238 with the defaults every authenticator app uses (SHA-1, 6 digits, 30 s), and
pyotp computes it: nothing here derives a code by hand. A code is accepted for the current
time step or one step either side (clock drift, RFC 6238 §5.2), and only for a step later than
the last one accepted, so a code seen over a shoulder or in a proxy log cannot be used again.

The officer gate, in order (the first that applies)::

    no confirmed factor on the account          -> enrol   (set up the app first)
    this session never proved the factor        -> code    (signed in before enrolling, say)
    an export or erasure, last proof too old    -> code    (IDENTITY_OFFICER_REAUTH_AFTER)
    otherwise                                   -> allow
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp

from identity.crypto import equals

OTP = "otp"  # RFC 8176: the method a session gains when it proves the second factor
DRIFT_STEPS = 1  # accept the neighbouring time steps too
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 12  # base32 characters: 60 bits each, hashed with a secret key
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

_TOTP_SHAPE = re.compile(r"^[0-9]{6}$")
_RECOVERY_SHAPE = re.compile(rf"^[{RECOVERY_ALPHABET}]{{{RECOVERY_CODE_LENGTH}}}$")


class CodeKind(StrEnum):
    totp = "totp"
    recovery = "recovery"


def normalize_code(raw: str) -> str:
    """What the user typed, without the spaces and dashes codes are shown with."""
    return re.sub(r"[\s\-]", "", raw).lower()[:64]


def kind_of(code: str) -> CodeKind | None:
    """A normalized code's kind by its shape (six digits, or a recovery code), else None."""
    if _TOTP_SHAPE.match(code):
        return CodeKind.totp
    if _RECOVERY_SHAPE.match(code):
        return CodeKind.recovery
    return None


def code_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose TOTP code ``code`` is, within the allowed drift (the latest when
    several match), or None when it is none of them."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    matches = [
        current + offset
        for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1)
        if equals(totp.at(now, counter_offset=offset), code)
    ]
    return max(matches) if matches else None


def is_fresh(step: int, last_used_step: int | None) -> bool:
    """RFC 6238 §5.2: once a code was accepted, no code of that step or an earlier one is."""
    return last_used_step is None or step > last_used_step


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def grouped(text: str, size: int = 4) -> str:
    """A secret as people copy it: groups of four (``JBSW Y3DP ...``)."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def shown_recovery_code(code: str) -> str:
    """A recovery code as shown once: ``abcd-efgh-ijkl`` (typed with or without dashes)."""
    return grouped(code).replace(" ", "-")


def has_second_factor(amr: str) -> bool:
    return OTP in amr.split()


class Gate(StrEnum):
    allow = "allow"
    enrol = "enrol"
    code = "code"


def officer_gate(
    *,
    enrolled: bool,
    amr: str,
    proven_at: datetime,
    now: datetime,
    recent_within: timedelta | None,
) -> Gate:
    """What an officer's request needs before the console may answer it (table above).

    ``recent_within`` is set for exports and erasures: the last proof must be that recent."""
    if not enrolled:
        return Gate.enrol
    if not has_second_factor(amr):
        return Gate.code
    if recent_within is not None and now - proven_at > recent_within:
        return Gate.code
    return Gate.allow
