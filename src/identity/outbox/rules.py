"""Retry schedule for outbox deliveries (pure)."""

from __future__ import annotations

from datetime import timedelta


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff: base, 2·base, 4·base, ... capped at ``cap``."""
    return min(base * (2 ** max(0, min(attempts - 1, 30))), cap)


def gives_up(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts


def delivered(status_code: int) -> bool:
    """2xx is delivered; anything else (or no answer) is retried."""
    return 200 <= status_code < 300
