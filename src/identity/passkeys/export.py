"""A customer's passkeys in their data export (``identity.dsr.coverage`` lists the table).

Each passkey's name, where it was made, whether it is synced, and when it was added and last
used. Not the credential id or the public key: neither is the shopper's to read, and both
are useless to anyone but this site.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.db import rfc3339
from identity.passkeys.models import PasskeyCredential


class Someone(Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...


def passkeys(session: Session, person: Someone, _context: object) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PasskeyCredential)
        .where(PasskeyCredential.user_id == person.user_id)
        .order_by(PasskeyCredential.created_at)
    )
    return [
        {
            "name": row.name,
            "made_on": row.device,
            "synced": row.multi_device,
            "created_at": rfc3339(row.created_at),
            "last_used_at": rfc3339(row.last_used_at) if row.last_used_at else None,
        }
        for row in rows
    ]
