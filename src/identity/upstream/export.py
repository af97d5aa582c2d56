"""The access export's ``upstream_identities`` section (listed in ``identity.dsr.coverage``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.upstream.models import UpstreamIdentity

if TYPE_CHECKING:  # annotations only: the DSR registry imports this module, not the reverse
    from identity.dsr.sections import ExportContext, Person


def upstream_identities(
    session: Session, person: Person, _ctx: ExportContext
) -> list[dict[str, Any]]:
    """Each external provider linked to the account: its key, the subject it gave us, when
    it was linked and last used."""
    rows = session.scalars(
        select(UpstreamIdentity)
        .where(UpstreamIdentity.user_id == person.user_id)
        .order_by(UpstreamIdentity.created_at, UpstreamIdentity.id)
    )
    return [
        {
            "provider": r.provider,
            "sub": r.sub,
            "created_at": r.created_at.isoformat(),
            "last_used_at": r.last_used_at.isoformat(),
        }
        for r in rows
    ]
