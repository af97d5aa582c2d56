"""Account use cases. Each public method is one transaction (or two, around a password hash).

Audit actions written here: ``account.signup``, ``account.email_verified``, ``login.succeeded``,
``login.failed``, ``login.throttled``, ``password.reset_requested``, ``password.reset``,
``password.rehashed``, ``session.ended``, ``session.ended_others``.

Mail goes out through :class:`~identity.mail.MailJobs`, after the transaction and off the
request path; requests that mail an address are limited per address and per client IP
(counted whether or not the address has an account, so the limit reveals nothing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.mail import AccountMail
from identity.accounts.models import BrowserSession, User
from identity.accounts.passwords import Passwords
from identity.accounts.rules import (
    Problem,
    Profile,
    ThrottlePolicy,
    normalize_email,
    password_problems,
    profile_problems,
    signup_problems,
)
from identity.accounts.sessions import Sessions
from identity.accounts.throttle import Throttle, ThrottleKey
from identity.context import CurrentSession, Origin
from identity.crypto import Pseudonyms
from identity.db import Database, utcnow
from identity.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
)
from identity.links import LinkError, LinkPurpose, Links, password_binding
from identity.mail import MailJobs
from identity.settings import Settings

log = logging.getLogger(__name__)


class InvalidForm(InvalidInput):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(problems), problems=[p.value for p in problems])
        self.problems = problems


class LoginFailed(Unauthenticated):
    """Wrong email or password; deliberately one error for both."""

    slug = "login-failed"
    title = "Email or password is incorrect"


class EmailNotVerified(PermissionDenied):
    slug = "email-not-verified"
    title = "Email address not verified yet"


@dataclass(frozen=True, slots=True)
class LoggedIn:
    cookie_value: str
    user: User
    session: BrowserSession
    next_step: str | None = None  # a page to see before going on (e.g. re-consent)


@dataclass(frozen=True, slots=True)
class AccountView:
    user: User
    sessions: list[BrowserSession] = field(default_factory=list)


class SessionEndedListener(Protocol):
    def __call__(self, session: Session, ended: BrowserSession, reason: str) -> None:
        """Called inside the transaction that ends a browser session (back-channel logout)."""


class SignInStep(Protocol):
    def __call__(self, user_id: uuid.UUID) -> str | None:
        """A page the user must see right after signing in (a path), or None."""


def subject_of(user: User) -> str:
    return f"user:{user.id}"


class AccountService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        passwords: Passwords,
        mail: AccountMail,
        pseudonyms: Pseudonyms,
        jobs: MailJobs,
        session_listeners: Sequence[SessionEndedListener] = (),
        sign_in_steps: Sequence[SignInStep] = (),
    ) -> None:
        self._settings = settings
        self._db = db
        self._passwords = passwords
        self._mail = mail
        self._jobs = jobs
        self._pseudonyms = pseudonyms
        self._links = Links(
            settings.secret,
            {
                LinkPurpose.verify_email: settings.verify_link_ttl,
                LinkPurpose.reset_password: settings.reset_link_ttl,
            },
        )
        self.sessions = Sessions(
            idle_timeout=settings.session_idle_timeout,
            absolute_timeout=settings.session_absolute_timeout,
        )
        self._throttle = Throttle()
        self._session_listeners = tuple(session_listeners)
        self._sign_in_steps = tuple(sign_in_steps)
        window = settings.login_failure_window
        lock = (settings.login_lock_base, settings.login_lock_max)
        self._account_policy = ThrottlePolicy(
            settings.login_max_failures_per_account, window, *lock
        )
        self._ip_policy = ThrottlePolicy(settings.login_max_failures_per_ip, window, *lock)
        mail_window = settings.mail_limit_window
        self._mail_address_policy = ThrottlePolicy(
            settings.mail_max_per_address, mail_window, mail_window / 4, mail_window
        )
        self._mail_ip_policy = ThrottlePolicy(
            settings.mail_max_per_ip, mail_window, mail_window / 4, mail_window
        )

    # -- helpers ------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._settings.issuer}{path}"

    def _details(self, origin: Origin, **extra: str | int | bool | None) -> dict[str, object]:
        return {"ip": self._pseudonyms.ip(origin.ip), **extra}

    def _sessions_ended(self, session: Session, ended: list[BrowserSession], reason: str) -> None:
        for row in ended:
            for listener in self._session_listeners:
                listener(session, row, reason)

    def _user_by_email(self, session: Session, email: str) -> User | None:
        return session.execute(select(User).where(User.email == email)).scalar_one_or_none()

    def _charge_mail(self, session: Session, email: str, origin: Origin) -> int:
        """Count a request that may mail ``email``; seconds to wait when over the limit."""
        keys = [
            ThrottleKey("mail:" + self._pseudonyms.email(email), self._mail_address_policy),
            ThrottleKey("mail-ip:" + self._pseudonyms.ip(origin.ip), self._mail_ip_policy),
        ]
        return self._throttle.charge(session, keys, utcnow())

    @staticmethod
    def _greeting_name(user: User) -> str | None:
        """User-chosen text goes only to addresses that proved they are the user's: anyone
        can sign up with someone else's address and a "name" that reads like a phishing
        line."""
        return user.name if user.email_verified else None

    # -- sign-up and verification -------------------------------------------------------

    def signup(self, *, email: str, password: str, name: str, locale: str, origin: Origin) -> None:
        """Create an unverified account and mail the verification link.

        Signing up with an address that already has an account shows the same outcome
        and mails its owner instead, so the form cannot be used to discover accounts.
        """
        normalized, password_hash = self._checked_new_account(email, password, name, locale)
        now = utcnow()
        try:
            with self._db.transaction() as session:
                wait = self._charge_mail(session, normalized, origin)
                if wait:
                    raise TooManyAttempts(wait)
                existing = self._user_by_email(session, normalized)
                if existing is None:
                    user = _new_user(normalized, password_hash, name, locale, now, verified=False)
                    session.add(user)
                    session.flush()
                    audit.record(
                        session,
                        "account.signup",
                        actor=subject_of(user),
                        subject=subject_of(user),
                        details=self._details(origin, locale=locale),
                    )
                else:
                    user = existing
                    audit.record(
                        session,
                        "account.signup_duplicate",
                        actor="anonymous",
                        subject=subject_of(existing),
                        details=self._details(origin),
                    )
        except IntegrityError:
            # Two sign-ups with the same address raced; the other one created the account.
            with self._db.read() as session:
                user = self._user_by_email(session, normalized)  # type: ignore[assignment]
            existing = user
        if existing is None:
            self._jobs.submit(lambda: self._send_verification(user))
        elif user is not None:
            self._jobs.submit(lambda: self._mail_already_registered(user))

    def _mail_already_registered(self, user: User) -> None:
        self._mail.already_registered(
            user.email,
            user.locale,
            name=self._greeting_name(user),
            login_link=self._url("/login"),
            reset_link=self._url("/forgot"),
        )

    def create(
        self,
        *,
        email: str,
        password: str,
        name: str,
        locale: str,
        verified: bool,
        actor: str = "operator:cli",
    ) -> User:
        """Create an account on an operator's behalf (CLI, demo data). No mail is sent."""
        normalized, password_hash = self._checked_new_account(email, password, name, locale)
        now = utcnow()
        try:
            with self._db.transaction() as session:
                user = _new_user(normalized, password_hash, name, locale, now, verified=verified)
                session.add(user)
                session.flush()
                audit.record(
                    session,
                    "account.created",
                    actor=actor,
                    subject=subject_of(user),
                    details={"verified": verified},
                )
        except IntegrityError as exc:
            raise Conflict(f"an account with {normalized} already exists") from exc
        return user

    def find_by_email(self, email: str) -> User | None:
        normalized = normalize_email(email)
        if normalized is None:
            return None
        with self._db.read() as session:
            return self._user_by_email(session, normalized)

    def _checked_new_account(
        self, email: str, password: str, name: str, locale: str
    ) -> tuple[str, str]:
        """Validate a new account's details; returns the normalised email and password hash."""
        normalized = normalize_email(email)
        problems = signup_problems(
            email=normalized,
            password=password,
            name=name,
            locale=locale,
            min_length=self._settings.password_min_length,
        )
        if problems or normalized is None:
            raise InvalidForm(problems)
        return normalized, self._passwords.hash(password)

    def _send_verification(self, user: User) -> None:
        token = self._links.make(LinkPurpose.verify_email, str(user.id), user.email)
        self._mail.verify_email(
            user.email, user.locale, name=None, link=self._url(f"/verify?token={token}")
        )

    def resend_verification(self, *, email: str, origin: Origin) -> None:
        normalized = normalize_email(email)
        if normalized is None:
            return
        with self._db.transaction() as session:
            wait = self._charge_mail(session, normalized, origin)
            user = self._user_by_email(session, normalized)
        if wait:
            raise TooManyAttempts(wait)
        if user is not None and not user.email_verified:
            self._jobs.submit(lambda: self._send_verification(user))

    def verify_email(self, token: str, origin: Origin) -> User:
        claims = self._links.read(LinkPurpose.verify_email, token)
        now = utcnow()
        with self._db.transaction() as session:
            user = session.get(User, _uuid(claims.user_id))
            if user is None or user.email != claims.binding:
                raise LinkError("invalid")
            self._links.redeem(session, claims, now)
            if user.email_verified_at is None:
                user.email_verified_at = now
                audit.record(
                    session,
                    "account.email_verified",
                    actor=subject_of(user),
                    subject=subject_of(user),
                    details=self._details(origin),
                )
            return user

    # -- login and sessions -------------------------------------------------------------

    def login(
        self, *, email: str, password: str, origin: Origin, previous_cookie: str | None
    ) -> LoggedIn:
        """Check the password under throttling; on success start a fresh session.

        Raises :class:`TooManyAttempts`, :class:`LoginFailed` (one error for unknown email
        and wrong password, equal in timing too) or :class:`EmailNotVerified`. The password
        is checked outside any transaction so that no database lock is held while hashing.
        """
        normalized = normalize_email(email) or email.strip().lower()[:320]
        keys = (
            ThrottleKey("acct:" + self._pseudonyms.email(normalized), self._account_policy),
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
        logged_in = self._complete_login(user.id, keys, new_hash, origin, previous_cookie)
        step = next((p for p in (s(user.id) for s in self._sign_in_steps) if p), None)
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
                    actor="anonymous",
                    subject=subject_of(user) if user else None,
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
                actor="anonymous",
                subject=subject_of(user) if user else None,
                details=self._details(origin, **unknown),
            )

    def _complete_login(
        self,
        user_id: uuid.UUID,
        keys: tuple[ThrottleKey, ThrottleKey],
        new_hash: str | None,
        origin: Origin,
        previous_cookie: str | None,
    ) -> LoggedIn:
        account_key, ip_key = keys
        now = utcnow()
        with self._db.transaction() as session:
            user = session.get(User, user_id)
            if user is None:  # deleted between the two transactions
                raise LoginFailed()
            self._throttle.refund(session, account_key, reset=True)
            self._throttle.refund(session, ip_key, reset=False)
            if new_hash is not None:
                user.password_hash = new_hash
                audit.record(session, "password.rehashed", actor="system", subject=subject_of(user))
            if user.email_verified:
                # Rotate: the cookie value is never reused. The same user signing in again
                # keeps the session (and its relying parties); another user's session ends.
                continued_sid = None
                previous = (
                    self.sessions.find(session, previous_cookie, now) if previous_cookie else None
                )
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
                    amr="pwd",
                    user_agent=origin.user_agent,
                    ip_hash=self._pseudonyms.ip(origin.ip),
                    sid=continued_sid,
                )
                audit.record(
                    session,
                    "login.succeeded",
                    actor=subject_of(user),
                    subject=subject_of(user),
                    details=self._details(origin, sid=row.sid),
                )
        # Right password but an unconfirmed address: no session, yet not a failed guess
        # either (the refund above is committed).
        if not user.email_verified:
            raise EmailNotVerified()
        return LoggedIn(cookie_value, user, row)

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
                actor=f"user:{row.user_id}",
                subject=f"user:{row.user_id}",
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
                actor=subject_of(current.user),
                subject=subject_of(current.user),
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
                    actor=subject_of(current.user),
                    subject=subject_of(current.user),
                    details=self._details(origin, count=len(ended)),
                )
                self._sessions_ended(session, ended, "ended_others")
            return len(ended)

    def update_profile(self, current: CurrentSession, profile: Profile, origin: Origin) -> User:
        problems = profile_problems(profile)
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
                    actor=subject_of(user),
                    subject=subject_of(user),
                    details=self._details(origin, fields=sorted(changed)),
                )
            return user

    # -- password reset -----------------------------------------------------------------

    def request_reset(self, *, email: str, origin: Origin) -> None:
        """Mail a reset link if the account exists; the caller shows the same page either way.

        Both paths do the same work (one transaction: the limits, the lookup, an audit
        entry) and the mail is made and sent by the mail thread, so the response time does
        not tell whether the address has an account."""
        normalized = normalize_email(email)
        if normalized is None:
            return
        with self._db.transaction() as session:
            wait = self._charge_mail(session, normalized, origin)
            user = self._user_by_email(session, normalized) if not wait else None
            audit.record(
                session,
                "password.reset_requested" if not wait else "password.reset_throttled",
                actor="anonymous",
                subject=subject_of(user) if user else None,
                details=self._details(
                    origin, **({} if user else {"email": self._pseudonyms.email(normalized)})
                ),
            )
        if wait:
            raise TooManyAttempts(wait)
        if user is not None:
            self._jobs.submit(lambda: self._mail_reset_link(user))

    def _mail_reset_link(self, user: User) -> None:
        token = self._links.make(
            LinkPurpose.reset_password, str(user.id), password_binding(user.password_hash)
        )
        self._mail.reset_password(
            user.email,
            user.locale,
            name=self._greeting_name(user),
            link=self._url(f"/reset?token={token}"),
        )

    def check_reset_link(self, token: str) -> User:
        """Validate a reset link without using it up (for showing the form)."""
        claims = self._links.read(LinkPurpose.reset_password, token)
        with self._db.read() as session:
            user = session.get(User, _uuid(claims.user_id))
            if user is None or password_binding(user.password_hash) != claims.binding:
                raise LinkError("used")
            return user

    def reset_password(
        self, *, token: str, password: str, confirm: str, origin: Origin, current_cookie: str | None
    ) -> User:
        """Set a new password from a reset link; every other session of the user ends."""
        user = self.check_reset_link(token)
        problems = password_problems(
            password, email=user.email, min_length=self._settings.password_min_length
        )
        if password != confirm:
            problems.append(Problem.passwords_differ)
        if problems:
            raise InvalidForm(problems)
        claims = self._links.read(LinkPurpose.reset_password, token)
        new_hash = self._passwords.hash(password)
        now = utcnow()
        with self._db.transaction() as session:
            user = session.get(User, user.id)  # type: ignore[assignment]
            if user is None or password_binding(user.password_hash) != claims.binding:
                raise LinkError("used")
            self._links.redeem(session, claims, now)
            user.password_hash = new_hash
            user.password_changed_at = now
            # Whoever reset the password proved control of the mailbox; the reset also
            # verifies the address.
            user.email_verified_at = user.email_verified_at or now
            keep = None
            if current_cookie:
                mine = self.sessions.find(session, current_cookie, now)
                keep = mine.id_hash if mine and mine.user_id == user.id else None
            ended = self.sessions.end_all_for_user(session, user.id, keep=keep)
            audit.record(
                session,
                "password.reset",
                actor=subject_of(user),
                subject=subject_of(user),
                details=self._details(origin, sessions_ended=len(ended)),
            )
            self._sessions_ended(session, ended, "password_reset")
        changed = user
        self._jobs.submit(
            lambda: self._mail.password_changed(
                changed.email, changed.locale, name=changed.name, reset_link=self._url("/forgot")
            )
        )
        return user


def _new_user(
    email: str, password_hash: str, name: str, locale: str, now: datetime, *, verified: bool
) -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash=password_hash,
        name=name.strip(),
        locale=locale,
        created_at=now,
        password_changed_at=now,
        updated_at=now,
        email_verified_at=now if verified else None,
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise LinkError("invalid") from exc
