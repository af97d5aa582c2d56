"""Demo data for ``make run``: a few shoppers to sign in with. Idempotent."""

from __future__ import annotations

from collections.abc import Iterator

from identity.runtime import Runtime

DEMO_PASSWORD = "demo-password-1"  # documented in the README; development databases only

DEMO_USERS = (
    ("ana@example.com", "Ana García", "es"),
    ("ben@example.com", "Ben Taylor", "en"),
)


def seed(runtime: Runtime) -> Iterator[str]:
    for email, name, locale in DEMO_USERS:
        if runtime.accounts.find_by_email(email) is not None:
            yield f"user {email}: already there"
            continue
        runtime.accounts.create(
            email=email,
            password=DEMO_PASSWORD,
            name=name,
            locale=locale,
            verified=True,
            actor="operator:demo-seed",
        )
        yield f"user {email}: created (password {DEMO_PASSWORD})"
