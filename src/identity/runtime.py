"""The composition root: every service built once from :class:`Settings`, and wired here only.

Handlers reach the result through ``request.app.state.runtime`` (see :mod:`identity.web.deps`);
there is no module-level state, so two apps with different settings can live in one process
(the throttling test runs two "instances" against one database this way). Nothing else builds
services or registers one object's listener on another: who tells whom is read here, in the
order things are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.accounts.mail import AccountMail
from identity.accounts.passwords import Passwords
from identity.accounts.rules import describe_user_agent
from identity.accounts.service import AccountService
from identity.accounts.sessions import SessionCookie
from identity.audit.checkpoints import CheckpointKeys, log_origin
from identity.audit.purge import Purger
from identity.audit.sequencer import Sequencer
from identity.audit.store import AuditLog
from identity.consent.access import ConsentAccess
from identity.consent.decisions import Decisions
from identity.consent.feed import ConsentFeed
from identity.consent.ledger import Ledger
from identity.consent.links import ConsentLinks
from identity.consent.notify import ConsentMessages
from identity.consent.policy import Catalog, load_catalog
from identity.consent.receipts import Receipts
from identity.consent.review import ReviewAtSignIn
from identity.consent.service import ConsentService
from identity.consent.states import StateStore, state_store
from identity.consent.webhooks import KIND as WEBHOOK
from identity.consent.webhooks import Webhooks
from identity.console.history import ConsentHistory
from identity.console.service import Console
from identity.crypto import Pseudonyms
from identity.db import Database
from identity.dsr.notify import ErasureMails
from identity.dsr.service import DataSubjectRequests
from identity.dsr.worker import DueRequests
from identity.linking.resolve import Resolution
from identity.linking.service import Linking
from identity.linking.signin import LinkAtSignIn
from identity.mail import MailJobs, MailSender, sender_from_settings
from identity.mail.sms import sms_sender_from_settings
from identity.mfa.proofs import ActiveFactors
from identity.mfa.service import SecondFactors
from identity.oidc.bearer import BearerVerifier
from identity.oidc.clients import ClientRegistry
from identity.oidc.keys import KeyPurpose, KeyStore
from identity.oidc.logout import BACKCHANNEL, Logout
from identity.oidc.server import Provider
from identity.oidc.service import OidcService
from identity.oidc.tokens import Tokens
from identity.operations import Operations, build_console, build_dsr
from identity.outbox.service import Outbox
from identity.passkeys.service import Passkeys
from identity.resources import resource_dir
from identity.settings import Settings
from identity.subjects.anonymous import AnonymousIds
from identity.subjects.service import SubjectResolver, Subjects
from identity.upstream.confirm import Upstream
from identity.upstream.wiring import UpstreamParts
from identity.web.branding import brand_of
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
    mail_jobs: MailJobs
    accounts: AccountService
    mfa: SecondFactors
    keys: KeyStore
    receipt_keys: KeyStore
    clients: ClientRegistry
    outbox: Outbox
    oidc: OidcService
    bearer: BearerVerifier
    consent: ConsentService
    receipts: Receipts
    consent_access: ConsentAccess
    decisions: Decisions
    states: StateStore
    webhooks: Webhooks
    audit_keys: CheckpointKeys
    audit_log: AuditLog
    audit_purge: Purger
    sequencer: Sequencer
    anonymous_ids: AnonymousIds
    linking: Linking
    resolution: Resolution
    console: Console
    consent_history: ConsentHistory
    dsr: DataSubjectRequests
    dsr_worker: DueRequests
    operations: Operations
    upstream: Upstream
    # Passkeys sign in through the accounts' sessions, as the second factor's code does.
    passkeys: Passkeys = field(init=False)

    def __post_init__(self) -> None:
        self.passkeys = Passkeys(
            settings=self.settings, db=self.db, accounts=self.accounts, pseudonyms=self.pseudonyms
        )

    @classmethod
    def build(cls, settings: Settings, *, db: Database | None = None) -> Runtime:
        db = db or Database(settings.database_url)
        (templates, upstream), pseudonyms = _templates(settings, db), Pseudonyms(settings.secret)
        mail, mail_jobs = sender_from_settings(settings), MailJobs()
        p = _Provider.build(settings, db)
        catalog = load_catalog(settings.policies_dir or resource_dir("policies"))
        webhooks = _webhooks(settings, db, p, catalog)
        consent = _Consent.build(settings, db, catalog, templates, mail, pseudonyms)
        passwords = Passwords.from_settings(settings)
        accounts, mfa = _accounts(
            settings, db, passwords, pseudonyms, AccountMail(templates, mail), mail_jobs, p, consent
        )
        p.provider.on_code_redeemed(LinkAtSignIn(consent.linking))
        audit_keys, sequencer, audit_log = _audit(settings, db, webhooks)
        receipts = p.receipts(settings, consent.service)
        console, consent_history = build_console(
            settings, db, audit_log, audit_keys, consent, receipts
        )
        mails = ErasureMails(templates, mail, mail_jobs, settings.issuer)
        dsr = build_dsr(settings, db, p, webhooks, accounts, catalog, mails, pseudonyms, receipts)
        return cls(
            settings=settings,
            db=db,
            templates=templates,
            csrf=Csrf(settings.secret, secure=settings.https, origin=settings.issuer),
            session_cookie=SessionCookie.for_issuer(settings.https),
            pseudonyms=pseudonyms,
            passwords=passwords,
            mail=mail,
            mail_jobs=mail_jobs,
            accounts=accounts,
            mfa=mfa,
            keys=p.provider.keys,
            receipt_keys=p.receipt_keys,
            clients=p.clients,
            outbox=p.outbox,
            oidc=p.service(accounts, db),
            bearer=BearerVerifier(p.provider.tokens, p.clients, p.subjects),
            consent=consent.service,
            receipts=receipts,
            consent_access=consent.access,
            decisions=consent.decisions,
            states=consent.states,
            webhooks=webhooks,
            audit_keys=audit_keys,
            audit_log=audit_log,
            audit_purge=Purger(db, settings.audit_retention_policy),
            sequencer=sequencer,
            anonymous_ids=consent.anonymous,
            linking=consent.linking,
            resolution=consent.resolution(db, p.subjects),
            console=console,
            consent_history=consent_history,
            dsr=dsr,
            dsr_worker=DueRequests(dsr.run_due, settings.dsr_run_interval),
            operations=Operations.build(
                settings, db, p, accounts, consent, webhooks, catalog, receipts
            ),
            upstream=upstream.service(settings, accounts, pseudonyms, templates, mail, mail_jobs),
        )

    def close(self) -> None:
        self.dsr_worker.stop()
        self.operations.housekeeping.stop()
        self.sequencer.stop()
        self.mail_jobs.close()
        self.outbox.stop()
        self.states.close()
        self.db.dispose()


def _accounts(
    settings: Settings,
    db: Database,
    passwords: Passwords,
    pseudonyms: Pseudonyms,
    mail: AccountMail,
    mail_jobs: MailJobs,
    p: _Provider,
    consent: _Consent,
) -> tuple[AccountService, SecondFactors]:
    """Accounts, and the second factor their sign-in asks for."""
    accounts = AccountService(
        settings=settings,
        db=db,
        passwords=passwords,
        mail=mail,
        pseudonyms=pseudonyms,
        jobs=mail_jobs,
        # Ending a session logs its relying parties out; re-consent comes before all else.
        session_listeners=[p.logout.session_ended],
        sign_in_steps=[ReviewAtSignIn(consent.decisions)],
        # An account with a confirmed factor gets no session until its code is proven.
        second_factor=ActiveFactors(),
    )
    mfa = SecondFactors(
        settings=settings, db=db, accounts=accounts, passwords=passwords, pseudonyms=pseudonyms
    )
    return accounts, mfa


def _webhooks(settings: Settings, db: Database, p: _Provider, catalog: Catalog) -> Webhooks:
    webhooks = Webhooks(
        db=db,
        secret=settings.secret,
        outbox=p.outbox,
        clients=p.clients,
        subjects=p.subjects,
        catalog=catalog,
    )
    # Webhook targets are chosen by API clients: every delivery is checked and pinned.
    p.outbox.register(WEBHOOK, webhooks.render, public_only=True)
    return webhooks


def _templates(settings: Settings, db: Database) -> tuple[Templates, UpstreamParts]:
    """The templates, and external sign-in's providers and links, which partials read."""
    upstream = UpstreamParts.build(settings, db)
    templates = Templates(
        resource_dir("templates"),
        filters={"user_agent_label": describe_user_agent, **upstream.filters},
        timezone=settings.display_timezone,
        globals={"branding": brand_of(settings)},
    )
    return templates, upstream


def _audit(
    settings: Settings, db: Database, webhooks: Webhooks
) -> tuple[CheckpointKeys, Sequencer, AuditLog]:
    keys = CheckpointKeys(db, settings.secret, log_origin(settings.issuer))
    sequencer = Sequencer(
        db,
        keys,
        batch_size=settings.audit_batch_size,
        checkpoint_interval=settings.audit_checkpoint_interval,
        poll_interval=settings.audit_poll_interval,
        round_interval=settings.audit_round_interval,
        # The consent feed takes its order from the log; webhooks follow the feed.
        listeners=[ConsentFeed(listeners=[webhooks.on_feed]).on_sequenced],
    )
    return keys, sequencer, AuditLog(db)


@dataclass(frozen=True)
class _Provider:
    """The OpenID provider's parts: keys, clients, subjects, tokens, logout, the outbox."""

    provider: Provider
    receipt_keys: KeyStore
    clients: ClientRegistry
    subjects: Subjects
    outbox: Outbox
    logout: Logout

    def receipts(self, settings: Settings, consent: ConsentService) -> Receipts:
        """Consent receipts: signed with the receipt keys, naming the channel (a client) that
        collected each decision."""

        def client_name(client_id: str) -> str | None:
            client = self.clients.get(client_id)
            return client.name if client else None

        return Receipts(
            settings=settings, consent=consent, keys=self.receipt_keys, channel_name=client_name
        )

    def service(self, accounts: AccountService, db: Database) -> OidcService:
        """The provider's use cases; RP-initiated logout becomes one of its endpoints."""
        oidc = OidcService(
            provider=self.provider,
            accounts=accounts,
            logout=self.logout,
            db=db,
        )
        self.provider.register_endpoint(oidc.end_session)
        return oidc

    @classmethod
    def build(cls, settings: Settings, db: Database) -> _Provider:
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
        clients, subjects, outbox = (
            ClientRegistry(db),
            Subjects(settings.secret),
            Outbox(db, settings),
        )
        tokens = Tokens(settings, keys)
        provider = Provider(
            settings=settings, db=db, keys=keys, clients=clients, tokens=tokens, subjects=subjects
        )
        logout = Logout(
            clients=clients, store=provider.store, subjects=subjects, tokens=tokens, outbox=outbox
        )
        outbox.register(BACKCHANNEL, logout.render)
        return cls(provider, receipt_keys, clients, subjects, outbox, logout)


@dataclass(frozen=True)
class _Consent:
    """The consent center's parts: the ledger writes, the read model answers."""

    service: ConsentService
    decisions: Decisions
    states: StateStore
    resolver: SubjectResolver
    anonymous: AnonymousIds
    linking: Linking

    @property
    def access(self) -> ConsentAccess:
        return ConsentAccess(
            consents=self.service, decisions=self.decisions, resolver=self.resolver
        )

    def resolution(self, db: Database, subjects: Subjects) -> Resolution:
        """Services resolving an anonymous id to the account, as consent allows."""
        return Resolution(
            db=db, anonymous=self.anonymous, decisions=self.decisions, subjects=subjects
        )

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        catalog: Catalog,
        templates: Templates,
        mail: MailSender,
        pseudonyms: Pseudonyms,
    ) -> _Consent:
        links = ConsentLinks(settings.secret, settings.issuer, settings.consent_confirm_ttl)
        messages = ConsentMessages(
            db, templates, mail, sms_sender_from_settings(settings), settings.brand_name, links
        )
        ledger = Ledger(db=db, pseudonyms=pseudonyms, send_confirmation=messages.send_confirmation)
        service = ConsentService(
            settings=settings, db=db, catalog=catalog, ledger=ledger, links=links
        )
        anonymous = AnonymousIds(settings.secret, settings.anonymous_id_lifetime)
        states, resolver = state_store(db), SubjectResolver(db, anonymous)
        decisions = Decisions(
            catalog=catalog,
            store=states,
            resolver=resolver,
            unsubscribe_url=links.unsubscribe_url,
            batch_max=settings.consent_batch_max,
        )
        linking = Linking(
            db=db,
            anonymous=anonymous,
            ledger=ledger,
            catalog=catalog,
            max_accounts=settings.anonymous_id_max_accounts,
        )
        return cls(service, decisions, states, resolver, anonymous, linking)
