"""Linking at sign-in: the ``anon_id`` a channel sent on its authorization request, told by
the provider when the code is redeemed, inside the redemption's transaction
(``oidc/redemption.py`` says why not earlier).

Only the retailer's own channels (first-party clients) may link: a merge can fill a purpose
the account never decided, so a third party's ids would otherwise write a customer's consent.
Whatever happens here, the sign-in goes on (the provider logs any failure).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity.audit.refs import Actor
from identity.linking.service import Linking
from identity.oidc.redemption import Redeemed


class LinkAtSignIn:
    def __init__(self, linking: Linking) -> None:
        self._linking = linking

    def __call__(self, session: Session, redeemed: Redeemed) -> None:
        client, user_id = redeemed.client, redeemed.user_id
        actor = Actor.user(user_id)
        if not client.first_party:
            self._linking.refuse(client.client_id, user_id, actor, "third_party", session)
            return
        self._linking.link(
            redeemed.anon_id,
            client_id=client.client_id,
            user_id=user_id,
            actor=actor,
            session=session,
        )
