"""How the composition root builds external sign-in: the providers file and the account
page's reads first (the templates call them), the use cases once accounts exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from identity.accounts.rules import ThrottlePolicy
from identity.accounts.service import AccountService
from identity.crypto import Pseudonyms
from identity.db import Database
from identity.mail import MailJobs, MailSender
from identity.mfa.proofs import ActiveFactors
from identity.settings import Environment, Settings
from identity.upstream.client import UpstreamClient
from identity.upstream.config import ProviderRegistry
from identity.upstream.confirm import Mailer, Upstream
from identity.upstream.flow import FlowTokens
from identity.upstream.linked import LinkedProviders
from identity.web.templating import Templates


def loopback_http_allowed(settings: Settings) -> bool:
    """Plain-http upstreams on this machine: for development and tests only."""
    return settings.env is not Environment.production


@dataclass(frozen=True)
class UpstreamParts:
    db: Database
    registry: ProviderRegistry
    linked: LinkedProviders

    @classmethod
    def build(cls, settings: Settings, db: Database) -> UpstreamParts:
        registry = ProviderRegistry(
            settings.upstream_path, allow_loopback_http=loopback_http_allowed(settings)
        )
        return cls(db, registry, LinkedProviders(db, registry))

    @property
    def filters(self) -> dict[str, Any]:
        """``{% for p in next | upstream_buttons %}`` and ``user.id | upstream_section``:
        the partials included by the sign-in and account pages get their data here, so
        those pages' handlers need not know about external sign-in."""
        return {"upstream_buttons": self.linked.buttons, "upstream_section": self.linked.section}

    def service(
        self,
        settings: Settings,
        accounts: AccountService,
        pseudonyms: Pseudonyms,
        templates: Templates,
        mail: MailSender,
        jobs: MailJobs,
    ) -> Upstream:
        window = settings.mail_limit_window
        return Upstream(
            mailer=Mailer(
                templates,
                mail,
                jobs,
                ThrottlePolicy(settings.mail_max_per_address, window, window / 4, window),
                ThrottlePolicy(settings.mail_max_per_ip, window, window / 4, window),
            ),
            db=self.db,
            registry=self.registry,
            client=UpstreamClient(
                timeout=settings.upstream_timeout,
                metadata_ttl=settings.upstream_metadata_ttl.total_seconds(),
                allow_loopback_http=loopback_http_allowed(settings),
            ),
            tokens=FlowTokens(
                settings.secret,
                flow_ttl=settings.upstream_flow_ttl,
                pending_ttl=settings.upstream_pending_ttl,
            ),
            accounts=accounts,
            pseudonyms=pseudonyms,
            second_factor=ActiveFactors(),
            issuer=settings.issuer,
        )
