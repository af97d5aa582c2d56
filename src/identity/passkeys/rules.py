"""Passkey rules as pure functions: names, what a sign-in with a passkey says about itself
(``amr``), when an account change needs the password again, how long a challenge lives.

The WebAuthn ceremonies themselves (CBOR, COSE keys, signatures, the origin and RP id checks)
are py_webauthn's, called from :mod:`identity.passkeys.ceremony`; nothing here parses them.

What a passkey sign-in puts in ``amr`` (RFC 8176 §2), in this order::

    the key       "hwk" for a device-bound key (it never leaves the authenticator),
                  "swk" for a synced passkey (backup eligible: the key lives in a cloud
                  keychain, software held by the platform, RFC 8176's "software key")
    "user"        the authenticator tested the user (presence, and verification: a PIN or a
                  biometric, it does not say which, so neither "pin" nor "fpt" is claimed)
    "mfa"         the key plus the user's verification are two factors (NIST SP 800-63B's
                  multi-factor cryptographic authenticator)

User verification is required at every ceremony, so a passkey sign-in always carries all
three: e.g. ``["hwk", "user", "mfa"]``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

CHALLENGE_TTL = timedelta(minutes=5)  # the browser's ceremony timeout, and then some
CEREMONY_TIMEOUT_MS = 120_000  # how long the browser shows its dialog (a hint to it)
RECENT_SIGN_IN = timedelta(minutes=5)  # as for a data export: older needs the password
NAME_MAX = 60
DEVICE_MAX = 60
PASSKEYS_MAX = 20  # per account: a list a shopper can still read

HARDWARE_KEY, SOFTWARE_KEY, USER, MFA = "hwk", "swk", "user", "mfa"
PASSKEY_METHODS = frozenset({HARDWARE_KEY, SOFTWARE_KEY})
# WebAuthn Level 3 §5.8.4: the transports a browser may report. Anything else is dropped.
KNOWN_TRANSPORTS = ("ble", "hybrid", "internal", "nfc", "smart-card", "usb")


class Purpose(StrEnum):
    """What a challenge was issued for: it is accepted for that ceremony only."""

    register = "register"
    sign_in = "sign_in"


def amr_for(*, multi_device: bool, user_verified: bool) -> str:
    """The session's methods after a passkey ceremony (the table in the module docstring)."""
    methods = [SOFTWARE_KEY if multi_device else HARDWARE_KEY]
    if user_verified:
        methods += [USER, MFA]
    return " ".join(methods)


def is_passkey_session(amr: str) -> bool:
    return not PASSKEY_METHODS.isdisjoint(amr.split())


def clean_name(raw: str) -> str | None:
    """A name the shopper typed, as kept: control and format characters dropped (no
    invisible text or direction overrides in a list of keys), spaces collapsed, cut to
    :data:`NAME_MAX`; None when nothing is left (the default label is shown instead)."""
    kept = "".join(c for c in raw if unicodedata.category(c)[0] != "C")
    text = re.sub(r"\s+", " ", kept).strip()[:NAME_MAX].strip()
    return text or None


def device_label(browser_and_system: str) -> str:
    """Where the passkey was made, for the default name ("Chrome / Android"), from the
    sessions list's label ("Chrome · Android")."""
    return browser_and_system.replace(" · ", " / ")[:DEVICE_MAX]


def clean_transports(values: Iterable[object]) -> str:
    """The transports worth keeping (hints for the browser at the next ceremony)."""
    seen = {str(v) for v in values if str(v) in KNOWN_TRANSPORTS}
    return " ".join(t for t in KNOWN_TRANSPORTS if t in seen)


def needs_password(auth_time: datetime, now: datetime) -> bool:
    """Adding or removing a passkey changes how the account is entered: a browser left
    signed in must not be enough, so a sign-in older than :data:`RECENT_SIGN_IN` is
    confirmed with the password first (as a data export is)."""
    return now - auth_time > RECENT_SIGN_IN


def challenge_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def sign_count_ok(stored: int, presented: int) -> bool:
    """WebAuthn §6.1.1: a counter that does not move forward means the key may have been
    cloned. Authenticators that keep no counter (synced passkeys) always say 0, which is
    accepted while the stored count is 0 too. py_webauthn checks this against the count
    read before verifying; it is checked again under the row's lock, so two assertions
    racing with the same count cannot both pass."""
    return (stored == 0 and presented == 0) or presented > stored
