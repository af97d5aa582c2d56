"""What other capabilities learn when a code is redeemed: an extension point, not OAuth.

A channel may send its visitor's anonymous id (``anon_id``) on the authorization request.
The id is kept with the code and handed on only when that code is redeemed, by the client
it was issued to, with the PKCE verifier of the flow it started. Linking at the
authorization response instead would let anyone who crafts an authorization link with their
own id have it merged into whoever signs in through it: that response reaches the browser
whether or not the client started the flow, but a redemption needs the flow's verifier.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from identity.oidc.clients import Client

log = logging.getLogger(__name__)

ANON_ID = "anon_id"
MAX_ANON_ID = 200


@dataclass(frozen=True)
class Redeemed:
    client: Client
    user_id: uuid.UUID
    anon_id: str


class RedeemedListener(Protocol):
    def __call__(self, session: Session, redeemed: Redeemed) -> None:
        """Told inside the redemption's transaction, in a savepoint of its own: what it
        writes commits with the redemption (one transaction, one sequencer round for the
        sign-in), and if it fails only its own writes are undone."""


def kept_anon_id(value: str | None) -> str | None:
    """The value to keep with the code: bounded and storable (PostgreSQL text holds no NUL).
    A mangled id stays an invalid one, so its linking is refused and audited as such."""
    if not value:
        return None
    return value[:MAX_ANON_ID].replace("\x00", "")


def tell(
    listeners: Sequence[RedeemedListener], session: Session, redeemed: Redeemed | None
) -> None:
    """The sign-in never depends on what listeners do: a failure is logged, not raised."""
    if redeemed is None:
        return
    for listener in listeners:
        try:
            with session.begin_nested():
                listener(session, redeemed)
        except Exception:
            log.exception("after-redemption step failed for client %s", redeemed.client.client_id)
