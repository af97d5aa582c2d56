"""argon2id through argon2-cffi's ``PasswordHasher``: hash, verify, rehash, and a dummy.

Each hash holds ``memory_cost`` KiB (64 MiB by default) while it runs, so the number of hashes
computed at once is capped (one per core by default): a burst of logins then queues for a few
milliseconds instead of exhausting memory.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity.settings import Settings


class Passwords:
    def __init__(
        self, *, time_cost: int, memory_cost: int, parallelism: int, concurrency: int = 0
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._slots = threading.BoundedSemaphore(concurrency or usable_cpus())
        # Verified against for unknown emails, so that "no such account" costs the same
        # time as "wrong password" and timing does not reveal which accounts exist.
        self._dummy = self._hasher.hash("not a password: timing equaliser")

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.password_hash_concurrency,
        )

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with ``stored_hash=None`` burns the same time."""
        with self._slots:
            try:
                return self._hasher.verify(stored_hash or self._dummy, password) and bool(
                    stored_hash
                )
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def usable_cpus() -> int:
    """CPUs this process may run on (affinity, not the machine's count): more hashes at once
    than that only adds latency and memory."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # platforms without sched_getaffinity
        return os.cpu_count() or 1
