"""Everything a request handler may need, built once per app from :class:`Settings`.

Handlers reach it through ``request.app.state.runtime`` (see :mod:`identity.web.deps`); there is
no module-level state, so two apps with different settings can live in one process (the
throttling test runs two "instances" against one database this way).
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts.mail import AccountMail
from identity.accounts.passwords import Passwords
from identity.accounts.rules import describe_user_agent
from identity.accounts.service import AccountService
from identity.accounts.sessions import SessionCookie
from identity.consent.access import ConsentAccess
from identity.consent.fastpath import DecisionReader
from identity.consent.notify import ConsentMessages
from identity.consent.policy import load_catalog
from identity.consent.service import ConsentService
from identity.consent.webhooks import Webhooks
from identity.crypto import Pseudonyms
from identity.db import Database
from identity.mail import MailSender, sender_from_settings
from identity.mail.sms import sms_sender_from_settings
from identity.oidc.bearer import BearerVerifier
from identity.oidc.clients import ClientRegistry
from identity.oidc.keys import KeyPurpose, KeyStore
from identity.oidc.logout import Logout
from identity.oidc.server import Provider
from identity.oidc.service import OidcService
from identity.oidc.subjects import Subjects
from identity.oidc.tokens import Tokens
from identity.outbox.service import Outbox
from identity.resources import resource_dir
from identity.settings import Settings
from identity.web.csrf import Csrf
from identity.web.templating import Templates


@dataclass
class Runtime:
    settings: Settings
    db: Database
    templates: Templates
    csrf: Csrf
    session_cookie: SessionCookie
    pseudonyms: Pseudonyms
    passwords: Passwords
    mail: MailSender
    accounts: AccountService
    keys: KeyStore
    receipt_keys: KeyStore
    clients: ClientRegistry
    outbox: Outbox
    oidc: OidcService
    bearer: BearerVerifier
    consent: ConsentService
    consent_access: ConsentAccess
    decisions: DecisionReader
    webhooks: Webhooks

    @classmethod
    def build(cls, settings: Settings, *, db: Database | None = None) -> Runtime:
        db = db or Database(settings.database_url)
        templates = Templates(
            resource_dir("templates"),
            filters={"user_agent_label": describe_user_agent},
            timezone=settings.display_timezone,
        )
        pseudonyms = Pseudonyms(settings.secret)
        passwords = Passwords.from_settings(settings)
        mail = sender_from_settings(settings)
        accounts = AccountService(
            settings=settings,
            db=db,
            passwords=passwords,
            mail=AccountMail(templates, mail),
            pseudonyms=pseudonyms,
        )
        keys = KeyStore(
            db,
            settings.secret,
            activation_delay=settings.key_activation_delay,
            published_after_superseded=max(settings.access_token_ttl, settings.id_token_ttl),
            cache_ttl=settings.keys_cache_ttl,
        )
        receipt_keys = KeyStore(
            db,
            settings.secret,
            purpose=KeyPurpose.receipts,
            algorithms=(settings.signing_alg.value,),
            activation_delay=settings.key_activation_delay,
            published_after_superseded=None,  # receipts are checked for as long as kept
            cache_ttl=settings.keys_cache_ttl,
        )
        clients = ClientRegistry(db)
        tokens = Tokens(settings, keys)
        subjects = Subjects(settings.secret)
        provider = Provider(
            settings=settings, db=db, keys=keys, clients=clients, tokens=tokens, subjects=subjects
        )
        outbox = Outbox(db, settings)
        logout = Logout(
            clients=clients, store=provider.store, subjects=subjects, tokens=tokens, outbox=outbox
        )
        oidc = OidcService(provider=provider, accounts=accounts, logout=logout, db=db)
        bearer = BearerVerifier(tokens, clients, subjects)
        consent = ConsentService(
            settings=settings,
            db=db,
            catalog=load_catalog(settings.policies_dir or resource_dir("policies")),
            pseudonyms=pseudonyms,
        )
        messages = ConsentMessages(
            db, templates, mail, sms_sender_from_settings(settings), settings.brand_name
        )
        consent.send_confirmation = messages.send_confirmation
        webhooks = Webhooks(
            db=db, secret=settings.secret, outbox=outbox, clients=clients, subjects=subjects
        )
        consent.after_record.append(webhooks.on_record)
        return cls(
            settings=settings,
            db=db,
            templates=templates,
            csrf=Csrf(settings.secret, secure=settings.https, origin=settings.issuer),
            session_cookie=SessionCookie.for_issuer(settings.https),
            pseudonyms=pseudonyms,
            passwords=passwords,
            mail=mail,
            accounts=accounts,
            keys=keys,
            receipt_keys=receipt_keys,
            clients=clients,
            outbox=outbox,
            oidc=oidc,
            bearer=bearer,
            consent=consent,
            consent_access=ConsentAccess(consents=consent, bearer=bearer, db=db),
            decisions=DecisionReader(db=db, consents=consent, bearer=bearer),
            webhooks=webhooks,
        )

    def close(self) -> None:
        self.outbox.stop()
        self.decisions.close()
        self.db.dispose()
