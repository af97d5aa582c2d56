"""Roles operators grant accounts. A role is a row, granted and revoked from the command line
(``identity users grant-role``), never from a page: no web request can make an officer."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from identity import audit
from identity.accounts.common import AccountsBase
from identity.accounts.models import UserRole
from identity.accounts.rules import normalize_email
from identity.audit.refs import Actor, Subject
from identity.context import OFFICER
from identity.db import utcnow
from identity.errors import InvalidInput, NotFound

ROLES = (OFFICER,)


class Roles(AccountsBase):
    def grant_role(self, email: str, role: str, *, operator: str) -> bool:
        """Give the account ``role``; False when it had it already (nothing is written)."""
        _known(role)
        with self._db.transaction() as session:
            user = self._user_by_email(session, normalize_email(email) or email.strip().lower())
            if user is None:
                raise NotFound("no account has that email address")
            if session.get(UserRole, (user.id, role)) is not None:
                return False
            session.add(
                UserRole(user_id=user.id, role=role, granted_at=utcnow(), granted_by=operator)
            )
            audit.record(
                session,
                "role.granted",
                actor=Actor.operator(operator),
                subject=Subject.user(user.id),
                details={"role": role},
            )
        return True

    def revoke_role(self, email: str, role: str, *, operator: str) -> bool:
        """Take ``role`` away; False when the account did not have it."""
        _known(role)
        with self._db.transaction() as session:
            user = self._user_by_email(session, normalize_email(email) or email.strip().lower())
            if user is None:
                raise NotFound("no account has that email address")
            gone = session.execute(
                delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role)
            ).rowcount
            if not gone:
                return False
            audit.record(
                session,
                "role.revoked",
                actor=Actor.operator(operator),
                subject=Subject.user(user.id),
                details={"role": role},
            )
        return True

    def has_role(self, user_id: uuid.UUID, role: str) -> bool:
        with self._db.read() as session:
            found = session.scalar(
                select(UserRole.role).where(UserRole.user_id == user_id, UserRole.role == role)
            )
        return found is not None


def _known(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; known: {', '.join(ROLES)}")
