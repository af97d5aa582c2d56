"""Signing in with an upstream provider: start, callback, and what the linking table
(:mod:`identity.upstream.rules`) decides. Each public method is one transaction.

Audit actions written here: ``upstream.failed`` (with a ``reason`` code), ``upstream.linked``
(``via`` session, mail or signup), ``upstream.link_mailed``, ``upstream.unlinked``,
``account.signup`` (``via`` upstream), and ``login.succeeded`` with ``amr`` "fed" (through
:meth:`AccountService.open_session`). Details name the provider key, never an email or the
upstream's ``sub``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.common import LoggedIn, new_user
from identity.accounts.models import User
from identity.accounts.service import AccountService, SecondFactorCheck
from identity.audit.refs import ANONYMOUS, Actor, Subject
from identity.context import CurrentSession, Origin
from identity.crypto import Pseudonyms, token_digest
from identity.db import Database, utcnow
from identity.errors import Unauthenticated
from identity.links import password_binding
from identity.links.models import UsedLink
from identity.upstream.client import UpstreamClient, UpstreamProblem
from identity.upstream.config import ProviderRegistry, UpstreamProvider
from identity.upstream.flow import Flow, FlowTokens, Pending
from identity.upstream.models import UpstreamIdentity
from identity.upstream.rules import (
    AMR_FEDERATED,
    UNUSABLE_PASSWORD,
    Decision,
    Identity,
    Outcome,
    callback_problem,
    decide,
    display_name,
    identity_from_claims,
)


class UpstreamFailed(Unauthenticated):
    """An external sign-in that cannot go on; ``reason`` is the audited code, and what the
    page explains (``state_mismatch``, ``upstream_error``, ``already_linked``, ...)."""

    slug = "upstream-sign-in-failed"
    title = "Signing in with the other provider did not work"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, reason=reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedIn:
    logged_in: LoggedIn
    next_url: str


@dataclass(frozen=True, slots=True)
class CodeRequired:
    """The account has a second factor: the code step comes next (no session yet)."""

    pending_sign_in: str
    next_url: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Not linked yet: ``page`` is "link" (confirm, signed in) or "prove" (the account
    must be proven first); ``pending`` goes into the browser's pending cookie."""

    page: str
    pending: str


Result = SignedIn | CodeRequired | Waiting


class UpstreamService:
    def __init__(
        self,
        *,
        db: Database,
        registry: ProviderRegistry,
        client: UpstreamClient,
        tokens: FlowTokens,
        accounts: AccountService,
        pseudonyms: Pseudonyms,
        second_factor: SecondFactorCheck,
        issuer: str,
    ) -> None:
        self._db = db
        self.registry = registry
        self.client = client
        self.tokens = tokens
        self._accounts = accounts
        self._pseudonyms = pseudonyms
        self._second_factor = second_factor
        self._issuer = issuer

    def redirect_uri(self, key: str) -> str:
        """The exact redirect URI registered at the upstream for provider ``key``."""
        return f"{self._issuer}/login/upstream/{key}/callback"

    def _provider(self, key: str) -> UpstreamProvider:
        provider = self.registry.get(key)
        if provider is None:
            raise UpstreamFailed("unknown_provider")
        return provider

    # -- start and callback ------------------------------------------------------------

    def begin(self, key: str, next_url: str, locale: str) -> tuple[str, str]:
        """The upstream's authorization URL and the flow cookie that binds it to this
        browser."""
        provider = self._provider(key)
        flow = Flow.new(key, next_url)
        try:
            url = self.client.authorization_url(
                provider,
                redirect_uri=self.redirect_uri(key),
                state=flow.state,
                nonce=flow.nonce,
                code_verifier=flow.verifier,
                locale=locale,
            )
        except UpstreamProblem as exc:
            self._failed(key, exc.reason, ANONYMOUS)
            raise UpstreamFailed(exc.reason) from exc
        return url, self.tokens.seal_flow(flow)

    def finish(
        self,
        key: str,
        params: Mapping[str, str],
        flow_cookie: str | None,
        *,
        current: CurrentSession | None,
        origin: Origin,
        previous_cookie: str | None,
    ) -> Result:
        """The callback: check the response against this browser's flow, redeem the code,
        check the ID token, then apply the linking table."""
        actor = Actor.user(current.user.id) if current else ANONYMOUS
        try:
            identity, next_url = self._identity(key, params, flow_cookie)
        except UpstreamProblem as exc:
            self._failed(key, exc.reason, actor)
            raise UpstreamFailed(exc.reason) from exc
        try:
            with self._db.transaction() as session:
                decision = self._decide(session, identity, current)
                if decision.outcome is Outcome.sign_in:
                    return self._sign_in(
                        session, decision, identity, next_url, origin, previous_cookie
                    )
        except UpstreamProblem as exc:  # rolled back: audited on its own
            self._failed(key, exc.reason, actor)
            raise UpstreamFailed(exc.reason) from exc
        if decision.outcome is Outcome.confirm_link:
            return Waiting("link", self.tokens.seal_pending(identity, next_url))
        if decision.outcome in (Outcome.prove_account, Outcome.create_after_mail):
            return Waiting("prove", self.tokens.seal_pending(identity, next_url))
        if decision.outcome is Outcome.create:
            return self._create(identity, next_url, origin, previous_cookie)
        self._failed(key, decision.outcome.value, actor)
        raise UpstreamFailed(decision.outcome.value)

    def _identity(
        self, key: str, params: Mapping[str, str], flow_cookie: str | None
    ) -> tuple[Identity, str]:
        provider = self.registry.get(key)
        flow = self.tokens.open_flow(flow_cookie)
        if provider is None:
            raise UpstreamProblem("unknown_provider")
        if flow is None:
            raise UpstreamProblem("no_flow")  # expired, forged, or another browser's
        if flow.provider != key:
            raise UpstreamProblem("provider_mismatch")
        metadata = self.client.metadata(provider)
        problem = callback_problem(
            params, expected_state=flow.state, issuer=provider.issuer,
            iss_required=metadata.iss_parameter,
        )  # fmt: skip
        if problem:
            raise UpstreamProblem(problem)
        self._use_once(token_digest("upstream-flow:" + flow.state), "upstream_flow")
        id_token = self.client.redeem(
            provider,
            redirect_uri=self.redirect_uri(key),
            code=params["code"],
            code_verifier=flow.verifier,
        )
        claims = self.client.id_token_claims(provider, id_token, nonce=flow.nonce)
        try:
            return identity_from_claims(key, claims, provider.client_id), flow.next_url
        except ValueError as exc:
            raise UpstreamProblem("bad_claims", str(exc)) from exc

    def _use_once(self, digest: str, purpose: str) -> None:
        """Redeem a flow or mailed link: a second use fails, even when two race."""
        now = utcnow()
        try:
            with self._db.transaction() as session:
                session.add(
                    UsedLink(
                        link_id_hash=digest,
                        purpose=purpose,
                        used_at=now,
                        expires_at=now + self.tokens.pending_ttl + self.tokens.flow_ttl,
                    )
                )
        except IntegrityError as exc:
            raise UpstreamProblem("replayed") from exc

    def _decide(
        self, session: Session, identity: Identity, current: CurrentSession | None
    ) -> Decision:
        link = self._link_of(session, identity.provider, identity.sub)
        owner = None
        if identity.email:
            owner = session.scalar(select(User.id).where(User.email == identity.email))
        return decide(
            linked_to=str(link.user_id) if link else None,
            signed_in_as=str(current.user.id) if current else None,
            email_owner=str(owner) if owner else None,
            identity=identity,
        )

    @staticmethod
    def _link_of(session: Session, provider: str, sub: str) -> UpstreamIdentity | None:
        return session.scalar(
            select(UpstreamIdentity).where(
                UpstreamIdentity.provider == provider, UpstreamIdentity.sub == sub
            )
        )

    # -- outcomes ------------------------------------------------------------------------

    def _sign_in(
        self,
        session: Session,
        decision: Decision,
        identity: Identity,
        next_url: str,
        origin: Origin,
        previous_cookie: str | None,
    ) -> Result:
        """A linked identity signs in to its account: a disabled or unconfirmed account
        gets no session, one with a second factor gets the code step first."""
        assert decision.user_id is not None
        user = session.get(User, uuid.UUID(decision.user_id))
        link = self._link_of(session, identity.provider, identity.sub)
        if user is None or link is None:
            raise UpstreamFailed("no_account")
        now = utcnow()
        link.last_used_at = now
        if user.disabled_at is not None:
            raise UpstreamProblem("account_disabled")
        if not user.email_verified:
            raise UpstreamProblem("unverified")
        if self._second_factor(session, user.id):
            pending = self._accounts.pending.issue(user.id, password_binding(user.password_hash))
            return CodeRequired(pending, next_url)
        logged_in = self._accounts.open_session(
            session, user, origin=origin, previous_cookie=previous_cookie, amr=AMR_FEDERATED,
            now=now,
        )  # fmt: skip
        return SignedIn(logged_in, next_url)

    def _create(
        self, identity: Identity, next_url: str, origin: Origin, previous_cookie: str | None
    ) -> Result:
        """A new account for an address the upstream vouches for; linked, signed in."""
        assert identity.email is not None
        now = utcnow()
        try:
            with self._db.transaction() as session:
                user = self.create_account(session, identity, origin, now)
                self.link(session, user.id, identity, "signup", now)
                decision = Decision(Outcome.sign_in, str(user.id))
                return self._sign_in(session, decision, identity, next_url, origin,
                                     previous_cookie)  # fmt: skip
        except IntegrityError as exc:  # the same address or identity, created meanwhile
            raise UpstreamFailed("conflict") from exc

    def create_account(
        self, session: Session, identity: Identity, origin: Origin, now: datetime
    ) -> User:
        """An account with the upstream's verified address and no password (the shopper may
        set one with "forgot your password")."""
        assert identity.email is not None
        user = new_user(
            identity.email, UNUSABLE_PASSWORD, display_name(identity), origin.locale, now,
            verified=True,
        )  # fmt: skip
        session.add(user)
        session.flush()
        self._audit(session, "account.signup", Actor.user(user.id), user.id,
                    via="upstream", provider=identity.provider, locale=origin.locale)  # fmt: skip
        return user

    def link(
        self, session: Session, user_id: uuid.UUID, identity: Identity, via: str, now: datetime
    ) -> None:
        session.add(
            UpstreamIdentity(
                provider=identity.provider, sub=identity.sub, user_id=user_id,
                created_at=now, last_used_at=now,
            )
        )  # fmt: skip
        session.flush()
        self._audit(session, "upstream.linked", Actor.user(user_id), user_id,
                    provider=identity.provider, via=via)  # fmt: skip

    # -- helpers -------------------------------------------------------------------------

    def _audit(
        self,
        session: Session,
        action: str,
        actor: Actor,
        user_id: uuid.UUID | None,
        **details: str,
    ) -> None:
        audit.record(
            session,
            action,
            actor=actor,
            subject=Subject.user(user_id) if user_id else None,
            details=details,
        )

    def _failed(self, key: str, reason: str, actor: Actor) -> None:
        # The key is ours only when configured: anything else a request carries is not logged.
        provider = key if self.registry.get(key) else "unknown"
        with self._db.transaction() as session:
            audit.record(
                session,
                "upstream.failed",
                actor=actor,
                subject=Subject.user(actor.id) if actor.kind == "user" and actor.id else None,
                details={"provider": provider, "reason": reason},
            )

    def failed(self, key: str, reason: str, current: CurrentSession | None) -> None:
        """Audit a failure the pages saw first (a pending sign-in that expired)."""
        self._failed(key, reason, Actor.user(current.user.id) if current else ANONYMOUS)

    def pending(self, token: str | None) -> Pending | None:
        return self.tokens.open_pending(token)
