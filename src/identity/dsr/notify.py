"""The mail that confirms an erasure was asked for: when, when it will happen, and where to
cancel it. Sent by the mail thread after the request's transaction has committed."""

from __future__ import annotations

from datetime import datetime

from identity.accounts.mail import N_
from identity.accounts.models import User
from identity.mail import MailJobs, MailSender, OutgoingMail, render_mail
from identity.web.templating import Templates


class ErasureMails:
    def __init__(
        self, templates: Templates, sender: MailSender, jobs: MailJobs, issuer: str
    ) -> None:
        self._templates = templates
        self._sender = sender
        self._jobs = jobs
        self._issuer = issuer

    def requested(self, user: User, requested_at: datetime, scheduled_for: datetime) -> None:
        to, locale = user.email, user.locale
        # User-chosen text only to an address that proved it is theirs (see AccountsBase).
        name = user.name if user.email_verified else None
        context = {
            "name": name,
            "requested_at": requested_at,
            "scheduled_for": scheduled_for,
            "link": f"{self._issuer}/account/data",
        }

        def send() -> None:
            body = render_mail(self._templates, "erasure_requested", locale, context)
            subject = self._templates.gettext(locale, N_("Your account will be deleted"))
            self._sender.send(OutgoingMail(to, subject, body.text, html=body.html))

        self._jobs.submit(send)
