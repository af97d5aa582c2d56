"""Subject identifiers as pure functions: canonical account ids and pairwise derivation."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Protocol

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Audience(Protocol):
    """What decides how a client names subjects (an OAuth client satisfies it)."""

    @property
    def client_id(self) -> str: ...

    @property
    def pairwise(self) -> bool: ...

    @property
    def sector_identifier(self) -> str | None: ...


def is_pairwise(audience: Audience) -> bool:
    return audience.pairwise and audience.sector_identifier is not None


def account_key(name: str) -> str | None:
    """The canonical account id a public subject name stands for, or None.

    Subjects are the ids we issue, already canonical: a regular expression accepts them at a
    fraction of ``uuid.UUID``'s cost, which matters a thousand times per batch; any other
    spelling ``uuid.UUID`` accepts (upper case, no dashes, braces) still works.
    """
    if _CANONICAL_UUID.fullmatch(name):
        return name
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return None


def pairwise_subject(sector: str, local_sub: str, salt: bytes) -> str:
    """``sub`` as seen by a pairwise client: no two sectors can correlate a customer."""
    digest = hashlib.sha256(sector.encode() + b"\x00" + local_sub.encode() + b"\x00" + salt)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
