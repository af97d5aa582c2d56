"""Who acted, and whom an entry is about: the audit log's references, typed.

Stored as text in the ``actor`` and ``subject`` columns, in one documented format that the
officer console and exports search on::

    user:<account id>        a customer or officer, signed in (the account's UUID)
    client:<client_id>       an OAuth client: a service, a relying party
    operator:<name>          someone at the command line (operator:cli, operator:demo-seed)
    system                   the provider itself (start-up keys, a logout cascade)
    anonymous                a request nobody is signed in to (a failed sign-in)
    visitor:<a:key>          (subjects) an anonymous first-party id, by its stored key

Subjects use ``user:``, ``client:`` and ``visitor:``. Emails, names and IP addresses never
appear here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

KINDS = ("user", "client", "operator", "system", "anonymous", "visitor")


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str
    id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown audit reference kind {self.kind!r}")
        if (self.id is None) != (self.kind in ("system", "anonymous")):
            raise ValueError(
                f"{self.kind} references {'take' if self.id is None else 'have'} an id"
            )

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind

    @classmethod
    def parse(cls, text: str) -> Ref:
        """The reference a stored text stands for (raises ValueError)."""
        kind, _, ref_id = text.partition(":")
        return cls(kind, ref_id or None)


class Actor(Ref):
    """Who did what an entry records."""

    __slots__ = ()

    @classmethod
    def user(cls, user_id: uuid.UUID | str) -> Actor:
        return cls("user", str(user_id))

    @classmethod
    def client(cls, client_id: str) -> Actor:
        return cls("client", client_id)

    @classmethod
    def operator(cls, name: str) -> Actor:
        return cls("operator", name)

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous")


class Subject(Ref):
    """Whom an entry is about."""

    __slots__ = ()

    @classmethod
    def user(cls, user_id: uuid.UUID | str) -> Subject:
        return cls("user", str(user_id))

    @classmethod
    def client(cls, client_id: str) -> Subject:
        return cls("client", client_id)

    @classmethod
    def visitor(cls, key: str) -> Subject:
        """An anonymous first-party id, by its stored key (``a:...``)."""
        return cls("visitor", key)

    @classmethod
    def of_consent_subject(cls, key: str) -> Subject:
        """A consent subject as the log names it: an account or an anonymous visitor."""
        return cls.visitor(key) if key.startswith("a:") else cls.user(key)


CLI = Actor.operator("cli")
SYSTEM = Actor.system()
ANONYMOUS = Actor.anonymous()
