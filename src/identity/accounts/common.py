"""What the account use cases share: their errors and results, and one base holding the
collaborators and helpers (settings, database, hashing, mail, throttles, links)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.devices import KnownDevices
from identity.accounts.mail import AccountMail
from identity.accounts.models import BrowserSession, User
from identity.accounts.passwords import Passwords
from identity.accounts.pending import PendingSignIns
from identity.accounts.rules import (
    Problem,
    ThrottlePolicy,
)
from identity.accounts.sessions import Sessions
from identity.accounts.throttle import Throttle, ThrottleKey
from identity.context import Origin
from identity.crypto import Pseudonyms
from identity.db import Database, utcnow
from identity.errors import (
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
)
from identity.links import LinkError, LinkPurpose, Links
from identity.mail import MailJobs
from identity.settings import Settings

# Throttle counters kept per address (under a keyed hash of it): sign-in failures and mails.
ACCOUNT_PREFIX, MAIL_PREFIX = "acct:", "mail:"


def email_throttle_keys(pseudonyms: Pseudonyms, email: str) -> tuple[str, str]:
    """The counters an address is counted under; erasing the account deletes them."""
    return ACCOUNT_PREFIX + pseudonyms.email(email), MAIL_PREFIX + pseudonyms.email(email)


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


class AccountDisabled(PermissionDenied):
    """The right password for an account an operator disabled (``identity users disable``)."""

    slug = "account-disabled"
    title = "This account is disabled"


@dataclass(frozen=True, slots=True)
class LoggedIn:
    cookie_value: str
    user: User
    session: BrowserSession
    next_step: str | None = None  # a page to see before going on (e.g. re-consent)
    device_cookie: str | None = None  # a first-party device cookie to give the browser


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


class SecondFactorCheck(Protocol):
    def __call__(self, session: Session, user_id: uuid.UUID) -> bool:
        """Whether the account must prove a second factor before a session starts."""


class AccountsBase:
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
        second_factor: SecondFactorCheck | None = None,
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
                LinkPurpose.change_email: settings.email_change_link_ttl,
            },
        )
        self.sessions = Sessions(
            idle_timeout=settings.session_idle_timeout,
            absolute_timeout=settings.session_absolute_timeout,
            remember_idle_timeout=settings.session_remember_idle_timeout,
            remember_absolute_timeout=settings.session_remember_absolute_timeout,
        )
        self._throttle = Throttle()
        self._session_listeners = tuple(session_listeners)
        self._sign_in_steps = tuple(sign_in_steps)
        self._second_factor = second_factor
        self.pending = PendingSignIns(settings.secret)
        self.devices = KnownDevices(settings.secret)
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
            ThrottleKey(MAIL_PREFIX + self._pseudonyms.email(email), self._mail_address_policy),
            ThrottleKey("mail-ip:" + self._pseudonyms.ip(origin.ip), self._mail_ip_policy),
        ]
        return self._throttle.charge(session, keys, utcnow())

    @staticmethod
    def _greeting_name(user: User) -> str | None:
        """User-chosen text goes only to addresses that proved they are the user's: anyone
        can sign up with someone else's address and a "name" that reads like a phishing
        line."""
        return user.name if user.email_verified else None


def new_user(
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


def link_user_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise LinkError("invalid") from exc
