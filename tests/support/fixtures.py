"""Shared fixtures and factories (loaded by ``tests/conftest.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.mail import read_mailbox
from identity.runtime import Runtime

DEFAULT_PASSWORD = "correct horse battery"


@dataclass
class Mailbox:
    runtime: Runtime

    def messages(self) -> list[dict[str, Any]]:
        self.runtime.mail_jobs.drain()  # mail is sent by a background thread
        return read_mailbox(self.runtime.settings.var_dir / "mail", limit=1000)

    def last(self, to: str | None = None) -> dict[str, Any]:
        for message in self.messages():
            if to is None or message["to"] == to:
                return message
        raise AssertionError(f"no mail to {to}")

    def last_link(self, to: str | None = None, path: str = "/") -> str:
        """The path+query of the newest link to ``path`` mailed to ``to``."""
        for message in self.messages():
            if to is not None and message["to"] != to:
                continue
            for url in re.findall(r"https?://\S+", message["text"]):
                parts = urlsplit(url)
                if parts.path.startswith(path):
                    return f"{parts.path}?{parts.query}" if parts.query else parts.path
        raise AssertionError(f"no mailed link to {path} for {to}")


@pytest.fixture
def clock() -> Any:
    """Frozen time starting now (signing keys are created at the real current time, so a
    frozen clock must not start before it); advance it with ``clock.tick(seconds)``."""
    from datetime import UTC, datetime

    from freezegun import freeze_time

    with freeze_time(datetime.now(UTC)) as frozen:
        yield frozen


@pytest.fixture
def mailbox(runtime: Runtime) -> Mailbox:
    return Mailbox(runtime)


@pytest.fixture
def make_user(runtime: Runtime) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        *,
        name: str = "Test Shopper",
        locale: str = "en",
        verified: bool = True,
    ) -> User:
        return runtime.accounts.create(
            email=email or f"shopper{next(counter)}@example.com",
            password=password,
            name=name,
            locale=locale,
            verified=verified,
            actor=Actor.operator("test"),
        )

    return make


@pytest.fixture
def count_rows(runtime: Runtime) -> Callable[[Any], int]:
    def count(model: Any) -> int:
        with runtime.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return count


@pytest.fixture
def audit_actions(runtime: Runtime) -> Callable[[], list[str]]:
    """Audited actions in order, without the signing keys every app creates at start-up."""

    def actions() -> list[str]:
        with runtime.db.read() as session:
            rows = session.scalars(select(AuditEntryRow.action).order_by(AuditEntryRow.id))
            return [a for a in rows if a not in ("keys.created", "audit.key_created")]

    return actions
