"""Sign-in ("charge, verify, settle": the password is checked outside any transaction),
browser sessions, the account page and the profile."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.common import (
    ACCOUNT_PREFIX,
    AccountDisabled,
    AccountsBase,
    AccountView,
    EmailNotVerified,
    InvalidForm,
    LoggedIn,
    LoginFailed,
)
from identity.accounts.countries import country_codes
from identity.accounts.models import BrowserSession, User
from identity.accounts.pending import SecondFactorRequired
from identity.accounts.rules import (
    Profile,
    describe_user_agent,
    normalize_email,
    profile_problems,
)
from identity.accounts.throttle import ThrottleKey
from identity.audit.refs import ANONYMOUS, SYSTEM, Actor, Subject
from identity.context import CurrentSession, Origin
from identity.db import utcnow
from identity.errors import (
    TooManyAttempts,
)
from identity.links import LinkError, password_binding


class SignIn(AccountsBase):
    # -- login and sessions -------------------------------------------------------------

    def login(
        self,
        *,
        email: str,
        password: str,
        origin: Origin,
        previous_cookie: str | None,
        remember: bool = False,
    ) -> LoggedIn:
        """Check the password under throttling; on success start a fresh session.

        Raises :class:`TooManyAttempts`, :class:`LoginFailed` (one error for unknown email
        and wrong password, equal in timing too), :class:`EmailNotVerified` or
        :class:`AccountDisabled` (both only after the right password), or
        :class:`SecondFactorRequired` (no session yet: the code step comes next). The password
        is checked outside any transaction so that no database lock is held while hashing.
        ``remember`` ("keep me signed in") asks for the longer session.
        """
        normalized = normalize_email(email) or email.strip().lower()[:320]
        keys = (
            ThrottleKey(ACCOUNT_PREFIX + self._pseudonyms.email(normalized), self._account_policy),
            ThrottleKey("ip:" + self._pseudonyms.ip(origin.ip), self._ip_policy),
        )
        user = self._charge_attempt(normalized, keys, origin)
        ok = self._passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            self._record_failure(user, normalized, origin)
            raise LoginFailed()
        new_hash = (
            self._passwords.hash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        logged_in = self._complete_login(
            user.id, keys, new_hash, origin, previous_cookie, remember=remember
        )
        step = self.next_step(user.id)
        return replace(logged_in, next_step=step) if step else logged_in

    def _charge_attempt(
        self, email: str, keys: tuple[ThrottleKey, ThrottleKey], origin: Origin
    ) -> User | None:
        with self._db.transaction() as session:
            wait = self._throttle.charge(session, list(keys), utcnow())
            user = self._user_by_email(session, email)
            if wait:
                audit.record(
                    session,
                    "login.throttled",
                    actor=ANONYMOUS,
                    subject=Subject.user(user.id) if user else None,
                    details=self._details(origin, retry_after=wait),
                )
        if wait:
            raise TooManyAttempts(wait)
        return user

    def _record_failure(self, user: User | None, email: str, origin: Origin) -> None:
        unknown = {} if user else {"email": self._pseudonyms.email(email)}
        with self._db.transaction() as session:
            audit.record(
                session,
                "login.failed",
                actor=ANONYMOUS,
                subject=Subject.user(user.id) if user else None,
                details=self._details(origin, **unknown),
            )

    def _complete_login(
        self,
        user_id: uuid.UUID,
        keys: tuple[ThrottleKey, ThrottleKey],
        new_hash: str | None,
        origin: Origin,
        previous_cookie: str | None,
        *,
        remember: bool,
    ) -> LoggedIn:
        """Settle a right password: refund the charge, then start a session, or (with a
        second factor) hand out a pending sign-in instead, which is not a session."""
        account_key, ip_key = keys
        now = utcnow()
        logged_in, pending = None, None
        with self._db.transaction() as session:
            user = session.get(User, user_id)
            if user is None:  # deleted between the two transactions
                raise LoginFailed()
            self._throttle.refund(session, account_key, reset=True)
            self._throttle.refund(session, ip_key, reset=False)
            if new_hash is not None:
                user.password_hash = new_hash
                audit.record(
                    session, "password.rehashed", actor=SYSTEM, subject=Subject.user(user.id)
                )
            if user.disabled_at is not None:
                self._note(session, user, "login.refused", origin, reason="disabled")
            elif not user.email_verified:
                pass  # no session; reported below, after the refund is committed
            elif self._second_factor is not None and self._second_factor(session, user.id):
                binding = password_binding(user.password_hash)
                pending = self.pending.issue(user.id, binding, remember=remember)
                self._note(session, user, "login.second_factor_due", origin)
            else:
                logged_in = self.open_session(
                    session,
                    user,
                    origin=origin,
                    previous_cookie=previous_cookie,
                    amr="pwd",
                    now=now,
                    remember=remember,
                )
        # The right password, for an account that is disabled or whose address is not yet
        # confirmed: no session, yet not a failed guess either (the refund above is
        # committed). Only someone who knows the password learns which (docs/security.md).
        if user.disabled_at is not None:
            raise AccountDisabled()
        if pending is not None:
            raise SecondFactorRequired(pending)
        if logged_in is None:
            raise EmailNotVerified()
        return logged_in

    def _note(
        self, session: Session, user: User, action: str, origin: Origin, **details: str
    ) -> None:
        subject = Subject.user(user.id)
        audit.record(
            session,
            action,
            actor=Actor.user(user.id),
            subject=subject,
            details=self._details(origin, **details),
        )

    def open_session(
        self,
        session: Session,
        user: User,
        *,
        origin: Origin,
        previous_cookie: str | None,
        amr: str,
        now: datetime,
        remember: bool = False,
    ) -> LoggedIn:
        """Start the browser session of a completed sign-in, inside the caller's transaction.

        Rotate: the cookie value is never reused. The same user signing in again keeps the
        session (and its relying parties); another user's session ends. A browser new to
        the account is mailed about once the transaction commits (:mod:`.devices`)."""
        continued_sid = None
        previous = self.sessions.find(session, previous_cookie, now) if previous_cookie else None
        if previous is not None:
            self.sessions.end(session, previous.id_hash)
            if previous.user_id == user.id:
                continued_sid = previous.sid
            else:
                self._sessions_ended(session, [previous], "switched_account")
            session.flush()
        cookie_value, row = self.sessions.start(
            session,
            user,
            now=now,
            amr=amr,
            user_agent=origin.user_agent,
            ip_hash=self._pseudonyms.ip(origin.ip),
            sid=continued_sid,
            remember=remember,
        )
        sighting = self.devices.sighted(session, user.id, origin.device, now)
        audit.record(
            session,
            "login.succeeded",
            actor=Actor.user(user.id),
            subject=Subject.user(user.id),
            details=self._details(origin, sid=row.sid, amr=amr, new_device=sighting.alert),
        )
        if sighting.alert:
            self._alert_new_device(session, user, row, now)
        return LoggedIn(cookie_value, user, row, device_cookie=sighting.new_cookie)

    def _alert_new_device(
        self, session: Session, user: User, row: BrowserSession, now: datetime
    ) -> None:
        """Mail the new-device alert after the sign-in commits (a rolled-back sign-in sends
        nothing), from the mail thread: a slow or failing relay never holds the sign-in."""
        to, locale, name = user.email, user.locale, self._greeting_name(user)
        device = describe_user_agent(row.user_agent)

        def send() -> None:
            self._mail.new_device(
                to, locale, name=name, device=device, when=now, account_link=self._url("/account")
            )

        event.listen(session, "after_commit", lambda _s: self._jobs.submit(send), once=True)

    def next_step(self, user_id: uuid.UUID) -> str | None:
        """The first page the user must see right after signing in (re-consent), if any."""
        return next((p for p in (s(user_id) for s in self._sign_in_steps) if p), None)

    def current(self, cookie_value: str | None) -> CurrentSession | None:
        """The signed-in user behind a session cookie, refreshing its idle timer."""
        if not cookie_value:
            return None
        now = utcnow()
        with self._db.read() as session:
            row = self.sessions.find(session, cookie_value, now)
            if row is None:
                return None
            current = CurrentSession(row.user, row)
        if now - row.last_seen_at >= timedelta(minutes=1):
            with self._db.transaction() as session:
                self.sessions.touch(session, row.id_hash, now)
        return current

    def logout(self, cookie_value: str | None, origin: Origin) -> BrowserSession | None:
        if not cookie_value:
            return None
        now = utcnow()
        with self._db.transaction() as session:
            row = self.sessions.find(session, cookie_value, now)
            if row is None:
                return None
            self.sessions.end(session, row.id_hash)
            audit.record(
                session,
                "session.ended",
                actor=Actor.user(row.user_id),
                subject=Subject.user(row.user_id),
                details=self._details(origin, sid=row.sid, reason="logout"),
            )
            self._sessions_ended(session, [row], "logout")
            return row

    def account(self, user_id: uuid.UUID) -> AccountView:
        with self._db.read() as session:
            user = session.get(User, user_id)
            if user is None:
                raise LinkError("invalid")
            return AccountView(user, self.sessions.for_user(session, user_id, utcnow()))

    def end_session(self, current: CurrentSession, sid: str, origin: Origin) -> bool:
        """End one of the user's own sessions by its public id (the sessions list)."""
        with self._db.transaction() as session:
            row = session.execute(
                select(BrowserSession).where(
                    BrowserSession.sid == sid, BrowserSession.user_id == current.user.id
                )
            ).scalar_one_or_none()
            if row is None:
                return False
            self.sessions.end(session, row.id_hash)
            audit.record(
                session,
                "session.ended",
                actor=Actor.user(current.user.id),
                subject=Subject.user(current.user.id),
                details=self._details(origin, sid=sid, reason="ended_from_account"),
            )
            self._sessions_ended(session, [row], "ended_from_account")
            return True

    def end_other_sessions(self, current: CurrentSession, origin: Origin) -> int:
        with self._db.transaction() as session:
            ended = self.sessions.end_all_for_user(
                session, current.user.id, keep=current.session.id_hash
            )
            if ended:
                audit.record(
                    session,
                    "session.ended_others",
                    actor=Actor.user(current.user.id),
                    subject=Subject.user(current.user.id),
                    details=self._details(origin, count=len(ended)),
                )
                self._sessions_ended(session, ended, "ended_others")
            return len(ended)

    def update_profile(self, current: CurrentSession, profile: Profile, origin: Origin) -> User:
        problems = profile_problems(profile, country_codes())
        if problems:
            raise InvalidForm(problems)
        phone = " ".join(profile.phone_number.split()) or None
        with self._db.transaction() as session:
            user = session.get(User, current.user.id)
            assert user is not None
            wanted = {
                "name": profile.name.strip(),
                "locale": profile.locale,
                "phone_number": phone,
                "address": profile.address(),
            }
            changed = {k: v for k, v in wanted.items() if getattr(user, k) != v}
            for key, value in changed.items():
                setattr(user, key, value)
            if "phone_number" in changed:
                user.phone_number_verified = False  # a new number is not verified
            if changed:
                user.updated_at = utcnow()
                audit.record(
                    session,
                    "account.profile_updated",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    details=self._details(origin, fields=sorted(changed)),
                )
            return user
