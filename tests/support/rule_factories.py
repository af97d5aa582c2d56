"""Plain-value factories for the pure consent and linking rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from identity.consent.policy import Localized, Purpose
from identity.consent.rules import State

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TEXT = Localized(en="x", es="x")


def purpose(**overrides: Any) -> Purpose:
    values: dict[str, Any] = dict(
        id="email_marketing",
        version="2.1",
        legal_basis="consent",
        category="marketing",
        channel="email",
        default=False,
        double_opt_in=False,
        expires_after_days=365,
        changelog=["x"],
        title=TEXT,
        description=TEXT,
    )
    values.update(overrides)
    return Purpose(**values)


def state(
    status: str = "granted",
    version: str = "2.1",
    decided: datetime = NOW - timedelta(days=1),
    expires: datetime | None = None,
) -> State:
    return State(status, version, decided, expires, 7, "preference_center")
