"""Password reset: the same work for any address, a link that dies when the password changes,
and every other session ended."""

from __future__ import annotations

from identity import audit
from identity.accounts.common import (
    AccountsBase,
    InvalidForm,
    link_user_id,
)
from identity.accounts.models import User
from identity.accounts.rules import (
    Problem,
    link_path,
    normalize_email,
    password_problems,
)
from identity.audit.refs import ANONYMOUS, Actor, Subject
from identity.context import Origin
from identity.db import utcnow
from identity.errors import (
    TooManyAttempts,
)
from identity.links import LinkError, LinkPurpose, password_binding


class Recovery(AccountsBase):
    # -- password reset -----------------------------------------------------------------

    def request_reset(self, *, email: str, origin: Origin, next_url: str | None = None) -> None:
        """Mail a reset link if the account exists; the caller shows the same page either way.
        The link carries ``next_url`` (a checked same-site path), so the shopper signs in
        with the new password and goes on to where they were.

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
                actor=ANONYMOUS,
                subject=Subject.user(user.id) if user else None,
                details=self._details(
                    origin, **({} if user else {"email": self._pseudonyms.email(normalized)})
                ),
            )
        if wait:
            raise TooManyAttempts(wait)
        if user is not None:
            self._jobs.submit(lambda: self._mail_reset_link(user, next_url))

    def _mail_reset_link(self, user: User, next_url: str | None) -> None:
        token = self._links.make(
            LinkPurpose.reset_password, str(user.id), password_binding(user.password_hash)
        )
        self._mail.reset_password(
            user.email,
            user.locale,
            name=self._greeting_name(user),
            link=self._url(link_path("/reset", next_url, token=token)),
        )

    def check_reset_link(self, token: str) -> User:
        """Validate a reset link without using it up (for showing the form)."""
        claims = self._links.read(LinkPurpose.reset_password, token)
        with self._db.read() as session:
            user = session.get(User, link_user_id(claims.user_id))
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
                actor=Actor.user(user.id),
                subject=Subject.user(user.id),
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
