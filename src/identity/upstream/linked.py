"""What the account page and the sign-in page show of external sign-in: the providers to
offer, and the account's linked ones. Built before the templates (they call it), so it needs
only the database and the providers file."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from identity.accounts.models import User
from identity.db import Database
from identity.upstream.config import ProviderRegistry
from identity.upstream.models import UpstreamIdentity
from identity.upstream.rules import has_password, may_unlink


@dataclass(frozen=True, slots=True)
class LinkView:
    id: int
    provider: str
    display_name: str
    created_at: datetime
    last_used_at: datetime


@dataclass(frozen=True, slots=True)
class AccountSection:
    links: list[LinkView]
    has_password: bool
    can_unlink: bool  # false: one link and no password, the only way in
    addable: list[dict[str, str]]  # providers not linked yet: {"key", "name"}


class LinkedProviders:
    def __init__(self, db: Database, registry: ProviderRegistry) -> None:
        self._db = db
        self._registry = registry

    def buttons(self, _context: object = None) -> list[dict[str, str]]:
        """The sign-in buttons, in the file's order (a template filter: its argument is
        ignored)."""
        return [{"key": p.key, "name": p.display_name} for p in self._registry.all().values()]

    def section(self, user_id: uuid.UUID) -> AccountSection:
        providers = self._registry.all()
        with self._db.read() as session:
            rows = list(
                session.scalars(
                    select(UpstreamIdentity)
                    .where(UpstreamIdentity.user_id == user_id)
                    .order_by(UpstreamIdentity.created_at, UpstreamIdentity.id)
                )
            )
            password_hash = session.scalar(select(User.password_hash).where(User.id == user_id))
        links = [
            LinkView(
                r.id,
                r.provider,
                providers[r.provider].display_name if r.provider in providers else r.provider,
                r.created_at,
                r.last_used_at,
            )
            for r in rows
        ]
        with_password = password_hash is not None and has_password(password_hash)
        linked = {r.provider for r in rows}
        return AccountSection(
            links=links,
            has_password=with_password,
            can_unlink=may_unlink(has_password=with_password, other_links=len(links) - 1),
            addable=[
                {"key": p.key, "name": p.display_name}
                for p in providers.values()
                if p.key not in linked
            ],
        )
