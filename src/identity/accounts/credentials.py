"""Changing the password from the account page.

The current password is asked first, through :meth:`Reauthentication.reauthenticate`: the
same per-account and per-IP throttle as sign-in, so a stolen session cookie is no faster a
way to guess it. The new one must pass the sign-up rules. Ticking "sign out my other devices"
ends every other session of the account as "Sign out everywhere else" does (their relying
parties are told, their grants without ``offline_access`` revoked). The password_changed mail
goes to the account's address; outstanding reset links die with the old password hash.
"""

from __future__ import annotations

from identity import audit
from identity.accounts.common import InvalidForm, LoginFailed
from identity.accounts.models import User
from identity.accounts.reauth import Reauthentication
from identity.accounts.rules import Problem, password_problems
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession, Origin
from identity.db import utcnow


class Credentials(Reauthentication):
    def change_password(
        self,
        current: CurrentSession,
        *,
        password: str,
        new_password: str,
        confirm: str,
        sign_out_others: bool,
        origin: Origin,
    ) -> int:
        """Replace the signed-in user's password; returns how many other sessions ended.

        Raises :class:`InvalidForm` (the new password breaks a rule: checked first, so it
        costs no attempt), :class:`LoginFailed` (wrong current password, or the password
        changed meanwhile) or :class:`~identity.errors.TooManyAttempts`."""
        problems = password_problems(
            new_password, email=current.user.email, min_length=self._settings.password_min_length
        )
        if new_password != confirm:
            problems.append(Problem.passwords_differ)
        if problems:
            raise InvalidForm(problems)
        self.reauthenticate(current, password, origin)
        new_hash = self._passwords.hash(new_password)  # outside any transaction
        now = utcnow()
        with self._db.transaction() as session:
            user = session.get(User, current.user.id, with_for_update=True)
            # Changed (or reset) by another request since this one checked it: that one wins.
            if user is None or user.password_hash != current.user.password_hash:
                raise LoginFailed()
            user.password_hash = new_hash
            user.password_changed_at = user.updated_at = now
            ended = []
            if sign_out_others:
                ended = self.sessions.end_all_for_user(
                    session, user.id, keep=current.session.id_hash
                )
            audit.record(
                session,
                "password.changed",
                actor=Actor.user(user.id),
                subject=Subject.user(user.id),
                details=self._details(origin, sid=current.session.sid, sessions_ended=len(ended)),
            )
            self._sessions_ended(session, ended, "password_changed")
            to, locale, name = user.email, user.locale, user.name
        self._jobs.submit(
            lambda: self._mail.password_changed(
                to,
                locale,
                name=name,
                reset_link=self._url("/forgot"),
                others_signed_out=sign_out_others,
            )
        )
        return len(ended)
