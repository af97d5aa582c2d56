"""Which browsers an account has signed in from, so that a sign-in from a new one mails an alert.

A browser is known by a first-party device cookie: a random 256-bit id, signed (itsdangerous)
so that a value made up by someone else is never taken for a device, HttpOnly, SameSite=Lax,
Secure and ``__Host-`` over https, kept for 400 days (the longest browsers keep a cookie). It
proves nothing and grants nothing: it only decides whether an alert goes out, so clearing
cookies, or a thief copying it, costs at most an alert or one fewer. ``known_device`` keeps the
SHA-256 of the id per account, with when it was first and last seen signing in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from identity.accounts.models import KnownDevice
from identity.accounts.rules import alerts_new_device
from identity.crypto import derive_key, new_token, token_digest
from identity.db import insert_ignoring_conflict

DEVICE_COOKIE_MAX_AGE = timedelta(days=400)  # RFC 6265bis: browsers cap cookies there
COOKIE_MAX = 200  # a signed id is about 70 characters; anything much longer is not ours


@dataclass(frozen=True, slots=True)
class Sighting:
    """What a sign-in learnt about its browser."""

    alert: bool  # a browser new to this account: mail the alert
    new_cookie: str | None  # the browser had no valid device cookie: set this one


class KnownDevices:
    def __init__(self, secret: bytes) -> None:
        self._signer = Signer(derive_key(secret, "identity.device-cookie"), salt="device")

    def device_id(self, cookie: str) -> str | None:
        """The id behind a device cookie as the browser sent it; None when missing or forged."""
        if not cookie or len(cookie) > COOKIE_MAX:
            return None
        try:
            return self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def sighted(self, session: Session, user_id: uuid.UUID, cookie: str, now: datetime) -> Sighting:
        """Record a sign-in of ``user_id`` from the browser sending ``cookie``, inside the
        sign-in's transaction; says whether to alert and which cookie to give the browser."""
        device_id, new_cookie = self.device_id(cookie), None
        if device_id is None:
            device_id = new_token()
            new_cookie = self._signer.sign(device_id).decode()
        digest = token_digest(device_id)
        row = session.get(KnownDevice, (user_id, digest))
        if row is not None:
            row.last_seen_at = max(row.last_seen_at, now)
            return Sighting(alert=False, new_cookie=new_cookie)
        known = session.scalar(
            select(func.count()).select_from(KnownDevice).where(KnownDevice.user_id == user_id)
        )
        # Two sign-ins from one new browser at once: the second finds the row taken, fine.
        insert_ignoring_conflict(
            session,
            KnownDevice,
            {
                "user_id": user_id,
                "device_hash": digest,
                "first_seen_at": now,
                "last_seen_at": now,
            },
        )
        alert = alerts_new_device(device_known=False, devices_known=int(known or 0))
        return Sighting(alert=alert, new_cookie=new_cookie)
