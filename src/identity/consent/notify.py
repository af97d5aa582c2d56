"""Double opt-in messages: the confirmation link by email or by SMS, in the customer's language."""

from __future__ import annotations

import uuid

from identity.accounts.mail import N_
from identity.accounts.models import User
from identity.consent.ledger import ConfirmationRequest
from identity.consent.links import ConsentLinks
from identity.db import Database
from identity.mail import MailSender, OutgoingMail, render_mail
from identity.mail.sms import SmsSender
from identity.web.templating import Templates


class ConsentMessages:
    def __init__(
        self,
        db: Database,
        templates: Templates,
        mail: MailSender,
        sms: SmsSender,
        brand: str,
        links: ConsentLinks,
    ) -> None:
        self._links = links
        self._brand = brand
        self._db = db
        self._templates = templates
        self._mail = mail
        self._sms = sms

    def send_confirmation(self, request: ConfirmationRequest) -> None:
        """The double opt-in link, by SMS for an SMS purpose, else by mail (after commit)."""
        link = self._links.confirmation_url(request)
        with self._db.read() as session:
            user = session.get(User, uuid.UUID(request.subject))
        if user is None:
            return
        locale = user.locale
        context = {
            "name": user.name if user.email_verified else None,
            "link": link,
            "purpose": request.purpose.title.get(locale),
            "brand": self._brand,
        }
        if request.purpose.channel == "sms" and user.phone_number:
            text = self._templates.render("mail/consent_confirm_sms.txt", locale, context)
            self._sms.send(user.phone_number, text.strip())
            return
        body = render_mail(self._templates, "consent_confirm", locale, context)
        subject = self._templates.gettext(
            locale, N_("Please confirm: %(purpose)s"), purpose=context["purpose"]
        )
        self._mail.send(OutgoingMail(user.email, subject, body.text, html=body.html))
