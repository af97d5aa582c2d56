"""Login throttling kept in the database, so every worker and instance sees the same counters.

"Charge first, refund on success": an attempt counts as a failure *before* the password is
checked and is refunded if it succeeds. Parallel guesses therefore cannot all slip in before
the first failure is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.accounts.models import LoginThrottle
from identity.accounts.rules import ThrottlePolicy, ThrottleState, after_failure, retry_after


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    key: str
    policy: ThrottlePolicy


class Throttle:
    def _locked_row(self, session: Session, key: str, now: datetime) -> LoginThrottle:
        """The key's row, created if missing, locked until the transaction ends.

        One atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: a separate insert and
        select could lose the row in between to a concurrent successful login's refund.
        """
        dialect_insert = _insert_for(session)
        statement = (
            dialect_insert(LoginThrottle)
            .values(key=key, failures=0, window_started_at=now, locked_until=None)
            .on_conflict_do_update(index_elements=["key"], set_={"key": key})
            .returning(LoginThrottle)
        )
        row: LoginThrottle = session.scalars(
            statement, execution_options={"populate_existing": True}
        ).one()
        return row

    def charge(self, session: Session, keys: list[ThrottleKey], now: datetime) -> int:
        """Count an attempt on every key unless one is locked; returns seconds to wait (0: go)."""
        rows = [(k, self._locked_row(session, k.key, now)) for k in keys]
        wait = max(retry_after(_state(row), now) for _, row in rows)
        if wait:
            return wait
        for key, row in rows:
            state = after_failure(_state(row) if row.failures else None, now, key.policy)
            row.failures = state.failures
            row.window_started_at = state.window_started_at
            # The lock that this very attempt may trigger applies to the *next* attempt.
            row.locked_until = state.locked_until
        return 0

    def refund(self, session: Session, key: ThrottleKey, *, reset: bool) -> None:
        """Give back the charge of a successful attempt (``reset`` clears the key entirely)."""
        row = session.execute(
            select(LoginThrottle).where(LoginThrottle.key == key.key).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            return
        if reset or row.failures <= 1:
            session.delete(row)
        else:
            row.failures -= 1
            row.locked_until = None if row.failures < key.policy.max_failures else row.locked_until


def _state(row: LoginThrottle) -> ThrottleState:
    return ThrottleState(row.failures, row.window_started_at, row.locked_until)


def _insert_for(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
