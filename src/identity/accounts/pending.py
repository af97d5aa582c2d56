"""A sign-in waiting for its second factor: the password was right, no session exists yet.

The browser holds a signed, short-lived token naming the account and a digest of its
password hash (so a password change kills it). It is not a session: nothing that asks "who is
signed in" ever reads it, so a browser that stopped after the password can use no page, no
authorization request and no API as the user. Only the code step reads it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from identity.crypto import derive_key
from identity.errors import Unauthenticated

PENDING_MAX_AGE = timedelta(minutes=10)


class SecondFactorRequired(Unauthenticated):
    """The password was right and the account has a second factor: ask for a code next.

    ``pending`` is the token the code step needs (the page keeps it in a cookie)."""

    slug = "second-factor-required"
    title = "Enter the code from your authenticator app"

    def __init__(self, pending: str) -> None:
        super().__init__()
        self.pending = pending


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    user_id: uuid.UUID
    password_binding: str
    remember: bool = False  # "keep me signed in" was ticked with the password


class PendingSignIns:
    def __init__(self, secret: bytes) -> None:
        key = derive_key(secret, "identity.pending-sign-in")
        self._serializer = URLSafeTimedSerializer(key, salt="pending-sign-in")

    def issue(self, user_id: uuid.UUID, password_binding: str, *, remember: bool = False) -> str:
        return self._serializer.dumps({"u": str(user_id), "b": password_binding, "r": remember})

    def read(self, token: str | None) -> PendingSignIn | None:
        """The pending sign-in behind a token; None when missing, forged or too old."""
        if not token or len(token) > 500:
            return None
        try:
            data = self._serializer.loads(token, max_age=int(PENDING_MAX_AGE.total_seconds()))
            return PendingSignIn(uuid.UUID(data["u"]), str(data["b"]), data.get("r") is True)
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None
