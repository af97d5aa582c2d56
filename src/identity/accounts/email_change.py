"""Changing the account's email address: asked for with the password, done from a link.

1. The signed-in user gives the new address and the current password (re-authentication,
   throttled as sign-in is: a stolen session cookie is not enough).
2. A link goes to the *new* address, and a notice without it to the current one ("if this
   was not you"). An address that already has an account gets the same page and a mail of
   its own instead of the link, as sign-up does, so the form tells nobody which addresses
   have accounts. Both mail requests are counted by the per-address mail limit.
3. The change happens only when that link is confirmed, by the same account, signed in:
   then the new address is the account's, confirmed (``email_verified``), and ID tokens and
   userinfo show it.

The link is an itsdangerous token (``IDENTITY_EMAIL_CHANGE_LINK_TTL``) bound to a digest of
the address and password hash it was asked under, and redeemed once: after any change of
address or password every outstanding link is dead (:func:`rules.email_change_binding`).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from identity import audit
from identity.accounts.common import InvalidForm, link_user_id
from identity.accounts.models import User
from identity.accounts.reauth import Reauthentication
from identity.accounts.rules import (
    email_change_binding,
    email_change_problems,
    new_email_of,
    normalize_email,
)
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession, Origin
from identity.db import utcnow
from identity.errors import TooManyAttempts
from identity.links import LinkClaims, LinkError, LinkPurpose


class EmailChange(Reauthentication):
    def request_email_change(
        self, current: CurrentSession, *, new_email: str, password: str, origin: Origin
    ) -> None:
        """Mail a confirmation link to ``new_email`` (or, when it has an account, a notice to
        its owner) and a notice to the current address. Raises :class:`InvalidForm`,
        :class:`~identity.accounts.common.LoginFailed` or :class:`TooManyAttempts`."""
        normalized = normalize_email(new_email)
        problems = email_change_problems(normalized, current.user.email)
        if problems or normalized is None:
            raise InvalidForm(problems)
        self.reauthenticate(current, password, origin)
        with self._db.transaction() as session:
            wait = self._charge_mail(session, normalized, origin)
            user = session.get(User, current.user.id)
            taken = self._user_by_email(session, normalized) if not wait else None
            if user is not None and not wait:
                audit.record(
                    session,
                    "email.change_requested",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    # No address in the log: it outlives an erasure.
                    details=self._details(origin, sid=current.session.sid),
                )
        if wait:
            raise TooManyAttempts(wait)
        if user is None:  # erased meanwhile
            return
        if taken is None:
            self._jobs.submit(lambda: self._mail_confirmation(user, normalized))
        else:
            self._jobs.submit(lambda: self._mail_taken(taken))
        self._jobs.submit(lambda: self._mail_notice(user))

    def _mail_confirmation(self, user: User, new_email: str) -> None:
        binding = email_change_binding(
            current_email=user.email, password_hash=user.password_hash, new_email=new_email
        )
        token = self._links.make(LinkPurpose.change_email, str(user.id), binding)
        self._mail.confirm_new_email(
            new_email,
            user.locale,
            name=self._greeting_name(user),
            link=self._url(f"/account/email/confirm?token={token}"),
        )

    def _mail_notice(self, user: User) -> None:
        self._mail.email_change_notice(
            user.email,
            user.locale,
            name=self._greeting_name(user),
            account_link=self._url("/account"),
            reset_link=self._url("/forgot"),
        )

    def _mail_taken(self, owner: User) -> None:
        self._mail.email_change_taken(
            owner.email,
            owner.locale,
            name=self._greeting_name(owner),
            login_link=self._url("/login"),
            reset_link=self._url("/forgot"),
        )

    def check_email_change(self, current: CurrentSession, token: str) -> str:
        """The new address a change link would give this signed-in account, without using
        the link (for the confirmation page). Raises :class:`LinkError`: ``invalid``
        (forged, or another account's link), ``expired``, ``used`` (or made stale by a later
        change) or ``taken`` (the address has had an account since)."""
        claims, new_email = self._change_claims(current, token)
        with self._db.read() as session:
            user = session.get(User, current.user.id)
            self._check_binding(user, claims, new_email)
            if self._user_by_email(session, new_email) is not None:
                raise LinkError("taken")
        return new_email

    def confirm_email_change(self, current: CurrentSession, token: str, origin: Origin) -> str:
        """Make the link's address the account's (confirmed); returns it. Raises as
        :meth:`check_email_change` does."""
        claims, new_email = self._change_claims(current, token)
        now = utcnow()
        try:
            with self._db.transaction() as session:
                user = session.get(User, current.user.id, with_for_update=True)
                self._check_binding(user, claims, new_email)
                assert user is not None
                if self._user_by_email(session, new_email) is not None:
                    raise LinkError("taken")
                self._links.redeem(session, claims, now)
                user.email = new_email
                user.email_verified_at = user.updated_at = now  # the link proved the mailbox
                session.flush()  # the unique index decides a race for the address
                audit.record(
                    session,
                    "email.changed",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    details=self._details(origin, sid=current.session.sid),
                )
        except IntegrityError as exc:
            raise LinkError("taken") from exc
        return new_email

    def _change_claims(self, current: CurrentSession, token: str) -> tuple[LinkClaims, str]:
        claims = self._links.read(LinkPurpose.change_email, token)
        new_email = new_email_of(claims.binding)
        # Someone else's link, even one forwarded to this signed-in browser, changes nothing.
        if new_email is None or link_user_id(claims.user_id) != current.user.id:
            raise LinkError("invalid")
        return claims, new_email

    @staticmethod
    def _check_binding(user: User | None, claims: LinkClaims, new_email: str) -> None:
        if user is None:
            raise LinkError("invalid")
        binding = email_change_binding(
            current_email=user.email, password_hash=user.password_hash, new_email=new_email
        )
        if binding != claims.binding:
            raise LinkError("used")
