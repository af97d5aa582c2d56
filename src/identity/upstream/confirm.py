"""After the callback: linking once the shopper has proven the account, and the account
page's list of linked providers.

Proof is one of: being signed in here (then a confirmation), or a link mailed to the
account's address and opened in the browser that signed in upstream (the link names that
browser's pending cookie by its digest). A mailed link to an address with no account yet
creates the account when opened: that is how an upstream that does not vouch for the address
(``email_verified`` not true) gets it verified.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity.accounts.common import MAIL_PREFIX
from identity.accounts.models import User
from identity.accounts.rules import ThrottlePolicy
from identity.accounts.throttle import Throttle, ThrottleKey
from identity.audit.refs import ANONYMOUS, Actor
from identity.context import CurrentSession, Origin
from identity.crypto import token_digest
from identity.db import utcnow
from identity.errors import NotFound, TooManyAttempts
from identity.mail import MailJobs, MailSender, OutgoingMail, render_mail
from identity.upstream.client import UpstreamProblem
from identity.upstream.flow import MailedLink, Pending
from identity.upstream.models import UpstreamIdentity
from identity.upstream.rules import (
    UNUSABLE_PASSWORD,
    Decision,
    Outcome,
    has_password,
    may_unlink,
)
from identity.upstream.service import Result, UpstreamFailed, UpstreamService

if TYPE_CHECKING:  # annotations only: the use cases render mail, they know no HTTP
    from identity.web.templating import Templates


def N_(message: str) -> str:
    return message


@dataclass(frozen=True, slots=True)
class Mailer:
    templates: Templates
    sender: MailSender
    jobs: MailJobs
    address_policy: ThrottlePolicy
    ip_policy: ThrottlePolicy


class Upstream(UpstreamService):
    """Every external sign-in use case (see :class:`UpstreamService` for the collaborators)."""

    def __init__(self, *, mailer: Mailer, **collaborators: Any) -> None:
        super().__init__(**collaborators)
        self.mailer = mailer

    # -- signed in here: confirm, then link ---------------------------------------------

    def link_signed_in(self, current: CurrentSession, token: str | None) -> str:
        """Link the pending identity to the signed-in account; returns where to go next."""
        pending = self._pending_or_fail(token)
        with self._db.transaction() as session:
            decision = self._decide(session, pending.identity, current)
            if decision.outcome is Outcome.confirm_link:
                self.link(session, current.user.id, pending.identity, "session", utcnow())
            elif decision.outcome is not Outcome.sign_in:  # sign_in: linked here already
                reason = decision.outcome.value
                self._failed(pending.identity.provider, reason, Actor.user(current.user.id))
                raise UpstreamFailed(reason)
        return pending.next_url

    def _pending_or_fail(self, token: str | None) -> Pending:
        pending = self.tokens.open_pending(token)
        if pending is None or self.registry.get(pending.identity.provider) is None:
            raise UpstreamFailed("expired")
        return pending

    # -- not signed in: a mailed link -----------------------------------------------------

    def proof_needed(self, token: str | None) -> Pending:
        """The pending identity that must prove its address. Its page is the same whether an
        account has that address or not (what a provider asserts must not tell anyone which
        addresses have an account here)."""
        return self._pending_or_fail(token)

    def mail_proof(self, token: str | None, origin: Origin) -> None:
        """Mail the address a link that links (or creates) the account when opened in this
        browser. Limited like every mail to an address (per address and per IP)."""
        pending = self._pending_or_fail(token)
        email = pending.identity.email
        with self._db.transaction() as session:
            decision = self._decide(session, pending.identity, None)
            if decision.outcome not in (Outcome.prove_account, Outcome.create_after_mail):
                raise UpstreamFailed(decision.outcome.value)
            assert email is not None
            wait = self._charge_mail(session, email, origin)
            if wait:
                raise TooManyAttempts(wait)
            owner = session.get(User, uuid.UUID(decision.user_id)) if decision.user_id else None
            self._audit(session, "upstream.link_mailed", ANONYMOUS, owner.id if owner else None,
                        provider=pending.identity.provider)  # fmt: skip
        link = self.tokens.seal_mailed(pending, str(owner.id) if owner else None)
        locale = owner.locale if owner else origin.locale
        provider = self.registry.get(pending.identity.provider)
        name = provider.display_name if provider else pending.identity.provider
        self.mailer.jobs.submit(lambda: self._send_link(email, locale, name, link))

    def _charge_mail(self, session: Session, email: str, origin: Origin) -> int:
        keys = [
            ThrottleKey(MAIL_PREFIX + self._pseudonyms.email(email), self.mailer.address_policy),
            ThrottleKey("mail-ip:" + self._pseudonyms.ip(origin.ip), self.mailer.ip_policy),
        ]
        return Throttle().charge(session, keys, utcnow())

    def _send_link(self, to: str, locale: str, provider: str, token: str) -> None:
        body = render_mail(
            self.mailer.templates,
            "upstream_link",
            locale,
            {"provider": provider, "link": f"{self._issuer}/login/upstream/mail?token={token}"},
        )
        subject = self.mailer.templates.gettext(
            locale, N_("Confirm signing in with %(provider)s"), provider=provider
        )
        self.mailer.sender.send(
            OutgoingMail(to=to, subject=subject, text=body.text, html=body.html)
        )

    def mailed(self, token: str | None) -> MailedLink:
        link = self.tokens.open_mailed(token)
        if link is None:
            raise UpstreamFailed("expired")
        return link

    def confirm_mailed(
        self,
        token: str | None,
        pending_token: str | None,
        origin: Origin,
        previous_cookie: str | None,
    ) -> Result:
        """The mailed link, opened in the browser that signed in upstream: link (or create)
        and sign in. Anywhere else it does nothing (``other_browser``)."""
        link, pending = self.mailed(token), self.tokens.open_pending(pending_token)
        identity = pending.identity if pending else None
        if (
            pending is None
            or identity is None
            or pending.browser_digest != link.browser_digest
            or (identity.provider, identity.sub) != (link.provider, link.sub)
        ):
            self._failed(link.provider, "other_browser", ANONYMOUS)
            raise UpstreamFailed("other_browser")
        try:
            self._use_once(token_digest("upstream-mail:" + link.link_id), "upstream_mail")
            with self._db.transaction() as session:
                return self._link_proven(session, link, pending, origin, previous_cookie)
        except UpstreamProblem as exc:
            self._failed(link.provider, exc.reason, ANONYMOUS)
            raise UpstreamFailed(exc.reason) from exc
        except IntegrityError as exc:
            raise UpstreamFailed("conflict") from exc

    def _link_proven(
        self,
        session: Session,
        link: MailedLink,
        pending: Pending,
        origin: Origin,
        previous_cookie: str | None,
    ) -> Result:
        identity, now = replace(pending.identity, email_verified=True), utcnow()
        decision = self._decide(session, identity, None)
        if link.user_id is None:
            if decision.outcome is not Outcome.create:
                raise UpstreamProblem(decision.outcome.value)  # an account appeared meanwhile
            user = self.create_account(session, identity, origin, now)
        else:
            if decision.outcome is not Outcome.prove_account or decision.user_id != link.user_id:
                raise UpstreamProblem(decision.outcome.value)
            user = session.get(User, uuid.UUID(link.user_id))
            assert user is not None  # decide found it by its address
            if not user.email_verified:
                # Proven now by the mailed link. A password set before that was never tied
                # to the address: it may be someone else's (an account made with another
                # person's address, waiting for them), so it goes.
                user.email_verified_at = now
                user.password_hash = UNUSABLE_PASSWORD
        self.link(session, user.id, identity, "mail", now)
        return self._sign_in(session, Decision(Outcome.sign_in, str(user.id)), identity,
                             pending.next_url, origin, previous_cookie)  # fmt: skip

    def unlink(self, current: CurrentSession, link_id: int) -> None:
        """Remove one of the signed-in account's own links; never the last way in."""
        user_id = current.user.id
        with self._db.transaction() as session:
            row = session.scalar(
                select(UpstreamIdentity).where(
                    UpstreamIdentity.id == link_id, UpstreamIdentity.user_id == user_id
                )
            )
            if row is None:
                raise NotFound("no such linked provider")
            others = session.scalar(
                select(func.count())
                .select_from(UpstreamIdentity)
                .where(UpstreamIdentity.user_id == user_id, UpstreamIdentity.id != link_id)
            )
            user = session.get(User, user_id)
            assert user is not None
            if not may_unlink(
                has_password=has_password(user.password_hash), other_links=others or 0
            ):
                raise UpstreamFailed("last_way_in")
            session.delete(row)
            self._audit(session, "upstream.unlinked", Actor.user(user_id), user_id,
                        provider=row.provider)  # fmt: skip
