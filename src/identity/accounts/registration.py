"""Sign-up and email verification. Sign-up never reveals whether an address has an account:
a duplicate shows the same page and mails the owner instead."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from identity import audit
from identity.accounts.common import (
    AccountsBase,
    InvalidForm,
    link_user_id,
    new_user,
)
from identity.accounts.models import User
from identity.accounts.rules import (
    link_path,
    normalize_email,
    signup_problems,
)
from identity.audit.refs import ANONYMOUS, CLI, Actor, Subject
from identity.context import Origin
from identity.db import utcnow
from identity.errors import (
    Conflict,
    TooManyAttempts,
)
from identity.links import LinkError, LinkPurpose


class Registration(AccountsBase):
    # -- sign-up and verification -------------------------------------------------------

    def signup(
        self,
        *,
        email: str,
        password: str,
        name: str,
        locale: str,
        origin: Origin,
        next_url: str | None = None,
    ) -> None:
        """Create an unverified account and mail the verification link.

        Signing up with an address that already has an account shows the same outcome
        and mails its owner instead, so the form cannot be used to discover accounts.
        ``next_url`` (a checked same-site path, e.g. the store's authorization) rides in
        the mailed links, so confirming the address leads back to where the shopper was.
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
                    user = new_user(normalized, password_hash, name, locale, now, verified=False)
                    session.add(user)
                    session.flush()
                    audit.record(
                        session,
                        "account.signup",
                        actor=Actor.user(user.id),
                        subject=Subject.user(user.id),
                        details=self._details(origin, locale=locale),
                    )
                else:
                    user = existing
                    audit.record(
                        session,
                        "account.signup_duplicate",
                        actor=ANONYMOUS,
                        subject=Subject.user(existing.id),
                        details=self._details(origin),
                    )
        except IntegrityError:
            # Two sign-ups with the same address raced; the other one created the account.
            with self._db.read() as session:
                user = self._user_by_email(session, normalized)  # type: ignore[assignment]
            existing = user
        if existing is None:
            self._jobs.submit(lambda: self._send_verification(user, next_url))
        elif user is not None:
            self._jobs.submit(lambda: self._mail_already_registered(user, next_url))

    def _mail_already_registered(self, user: User, next_url: str | None) -> None:
        self._mail.already_registered(
            user.email,
            user.locale,
            name=self._greeting_name(user),
            login_link=self._url(link_path("/login", next_url)),
            reset_link=self._url(link_path("/forgot", next_url)),
        )

    def create(
        self,
        *,
        email: str,
        password: str,
        name: str,
        locale: str,
        verified: bool,
        actor: Actor = CLI,
    ) -> User:
        """Create an account on an operator's behalf (CLI, demo data). No mail is sent."""
        normalized, password_hash = self._checked_new_account(email, password, name, locale)
        now = utcnow()
        try:
            with self._db.transaction() as session:
                user = new_user(normalized, password_hash, name, locale, now, verified=verified)
                session.add(user)
                session.flush()
                audit.record(
                    session,
                    "account.created",
                    actor=actor,
                    subject=Subject.user(user.id),
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

    def _send_verification(self, user: User, next_url: str | None = None) -> None:
        token = self._links.make(LinkPurpose.verify_email, str(user.id), user.email)
        link = self._url(link_path("/verify", next_url, token=token))
        self._mail.verify_email(user.email, user.locale, name=None, link=link)

    def resend_verification(
        self, *, email: str, origin: Origin, next_url: str | None = None
    ) -> None:
        normalized = normalize_email(email)
        if normalized is None:
            return
        with self._db.transaction() as session:
            wait = self._charge_mail(session, normalized, origin)
            user = self._user_by_email(session, normalized)
        if wait:
            raise TooManyAttempts(wait)
        if user is not None and not user.email_verified:
            self._jobs.submit(lambda: self._send_verification(user, next_url))

    def verify_email(self, token: str, origin: Origin) -> User:
        claims = self._links.read(LinkPurpose.verify_email, token)
        now = utcnow()
        with self._db.transaction() as session:
            user = session.get(User, link_user_id(claims.user_id))
            if user is None or user.email != claims.binding:
                raise LinkError("invalid")
            self._links.redeem(session, claims, now)
            if user.email_verified_at is None:
                user.email_verified_at = now
                audit.record(
                    session,
                    "account.email_verified",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    details=self._details(origin),
                )
            return user
