"""Confirming the password of someone already signed in, before a step that hands over or
destroys the account (a data export, an erasure): a browser left signed in on a shared
computer must not be enough.

Throttled exactly like sign-in (the same per-account and per-IP counters, charged before the
password is checked and outside any transaction while it is), so a stolen session cookie is no
faster a way to guess the password than the sign-in form. On success the session counts as
freshly signed in (``auth_time``), as a sign-in would have made it.
"""

from __future__ import annotations

from identity import audit
from identity.accounts.common import ACCOUNT_PREFIX, LoginFailed
from identity.accounts.models import BrowserSession
from identity.accounts.signin import SignIn
from identity.accounts.throttle import ThrottleKey
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession, Origin
from identity.db import utcnow


class Reauthentication(SignIn):
    def reauthenticate(self, current: CurrentSession, password: str, origin: Origin) -> None:
        """Check the signed-in user's password; raises :class:`LoginFailed` or
        :class:`~identity.errors.TooManyAttempts`."""
        user = current.user
        keys = (
            ThrottleKey(ACCOUNT_PREFIX + self._pseudonyms.email(user.email), self._account_policy),
            ThrottleKey("ip:" + self._pseudonyms.ip(origin.ip), self._ip_policy),
        )
        stored = self._charge_attempt(user.email, keys, origin)
        if stored is None or stored.id != user.id:  # erased (or changed) meanwhile
            raise LoginFailed()
        if not self._passwords.verify(stored.password_hash, password):
            with self._db.transaction() as session:
                audit.record(
                    session,
                    "session.reauthentication_failed",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    details=self._details(origin, sid=current.session.sid),
                )
            raise LoginFailed()
        with self._db.transaction() as session:
            account_key, ip_key = keys
            self._throttle.refund(session, account_key, reset=True)
            self._throttle.refund(session, ip_key, reset=False)
            row = session.get(BrowserSession, current.session.id_hash)
            if row is None:  # signed out meanwhile
                raise LoginFailed()
            row.auth_time = utcnow()
            audit.record(
                session,
                "session.reauthenticated",
                actor=Actor.user(user.id),
                subject=Subject.user(user.id),
                details=self._details(origin, sid=row.sid),
            )
