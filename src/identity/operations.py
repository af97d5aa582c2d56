"""What operators and officers run, as the composition root builds it: the lifecycle of
accounts and clients, housekeeping and the consent export (``identity users|clients|
housekeeping|consent``), the privacy officer console and data subject requests.

Kept apart from :mod:`identity.runtime` only for size; it is part of the composition root.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from identity.accounts.service import AccountService
from identity.accounts.standing import AccountStanding
from identity.audit.checkpoints import CheckpointKeys
from identity.audit.refs import SYSTEM
from identity.audit.store import AuditLog
from identity.consent.export import ConsentExport
from identity.consent.models import ConsentRecord
from identity.consent.policy import Catalog
from identity.consent.receipts import Receipts
from identity.consent.webhooks import Webhooks
from identity.console.history import ConsentHistory
from identity.console.service import Console
from identity.crypto import Pseudonyms
from identity.db import Database
from identity.dsr.notify import ErasureMails
from identity.dsr.service import DataSubjectRequests
from identity.housekeeping.service import Housekeeping
from identity.oidc.client_admin import ClientAdmin
from identity.settings import Settings

if TYPE_CHECKING:
    from identity.runtime import _Consent, _Provider


def build_dsr(
    settings: Settings,
    db: Database,
    p: _Provider,
    webhooks: Webhooks,
    accounts: AccountService,
    catalog: Catalog,
    mails: ErasureMails,
    pseudonyms: Pseudonyms,
    receipts: Receipts,
) -> DataSubjectRequests:
    """Data subject requests read every capability's tables (``dsr.coverage``); erasure tells
    clients through the provider's logout and the consent webhooks."""

    def client_name(client_id: str) -> str | None:
        client = p.clients.get(client_id)
        return client.name if client else None

    def receipt(record: ConsentRecord) -> str | None:
        purpose = catalog.get(record.purpose)
        if purpose is None:  # a purpose file removed since: the record stays, unsigned
            return None
        return receipts.token_for(record)

    return DataSubjectRequests(
        db=db,
        pseudonyms=pseudonyms,
        issuer=settings.issuer,
        grace=settings.erasure_grace,
        reauthenticate=accounts.reauthenticate,
        sign_out=p.logout,
        notices=webhooks,
        client_name=client_name,
        receipt=receipt,
        mail=mails,
    )


def build_console(
    settings: Settings,
    db: Database,
    log: AuditLog,
    keys: CheckpointKeys,
    consent: _Consent,
    receipts: Receipts,
) -> tuple[Console, ConsentHistory]:
    """The privacy officer console: the log searched and proved, consent histories, receipts."""
    console = Console(db=db, settings=settings, log=log, keys=keys)
    history = ConsentHistory(
        db=db,
        settings=settings,
        console=console,
        consent=consent.service,
        decisions=consent.decisions,
        linking=consent.linking,
        receipts=receipts,
    )
    return console, history


@dataclass(frozen=True)
class Operations:
    """What operators run (``identity users``, ``clients``, ``housekeeping``, ``consent
    export``): the lifecycle of accounts and clients, housekeeping, the consent export."""

    standing: AccountStanding
    clients: ClientAdmin
    housekeeping: Housekeeping
    consent_export: ConsentExport

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        p: _Provider,
        accounts: AccountService,
        consent: _Consent,
        webhooks: Webhooks,
        catalog: Catalog,
        receipts: Receipts,
    ) -> Operations:
        store = p.provider.store

        def revoke_account_grants(session: Session, user_id: uuid.UUID) -> int:
            return store.revoke_grants(
                session, user_id=user_id, reason="account_disabled", actor=SYSTEM
            )

        standing = AccountStanding(
            db=db,
            sessions=accounts.sessions,
            revoke_grants=revoke_account_grants,
            # A disabled account's sessions end like any other: relying parties are told.
            session_listeners=[p.logout.session_ended],
        )
        clients = ClientAdmin(db, p.clients, store, removed_listeners=[webhooks.client_removed])
        housekeeping = Housekeeping(
            db, settings, accounts.sessions, tasks={"anonymous_ids": consent.linking.expire}
        )
        export = ConsentExport(db=db, catalog=catalog, receipts=receipts)
        return cls(standing, clients, housekeeping, export)
