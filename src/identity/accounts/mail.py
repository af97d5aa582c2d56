"""The account emails, rendered in the recipient's language from ``templates/mail``."""

from __future__ import annotations

from datetime import datetime

from identity.mail import MailSender, OutgoingMail, render_mail
from identity.web.templating import Templates


def N_(message: str) -> str:
    """Mark a string for extraction into the catalogs; it is translated when sent."""
    return message


class AccountMail:
    def __init__(self, templates: Templates, sender: MailSender) -> None:
        self._templates = templates
        self._sender = sender

    def _send(self, to: str, locale: str, template: str, subject: str, **context: object) -> None:
        body = render_mail(self._templates, template, locale, dict(context))
        subject = self._templates.gettext(locale, subject)
        self._sender.send(OutgoingMail(to=to, subject=subject, text=body.text, html=body.html))

    def verify_email(self, to: str, locale: str, *, name: str | None, link: str) -> None:
        self._send(
            to, locale, "verify_email", N_("Confirm your email address"), name=name, link=link
        )

    def reset_password(self, to: str, locale: str, *, name: str | None, link: str) -> None:
        self._send(to, locale, "reset_password", N_("Reset your password"), name=name, link=link)

    def already_registered(
        self, to: str, locale: str, *, name: str | None, login_link: str, reset_link: str
    ) -> None:
        # Sign-up with a known address must look the same on screen as a new sign-up (no
        # enumeration); the owner learns what happened from their own mailbox instead.
        self._send(
            to,
            locale,
            "already_registered",
            N_("You already have an account"),
            name=name,
            login_link=login_link,
            reset_link=reset_link,
        )

    def password_changed(
        self, to: str, locale: str, *, name: str, reset_link: str, others_signed_out: bool = True
    ) -> None:
        self._send(
            to,
            locale,
            "password_changed",
            N_("Your password was changed"),
            name=name,
            reset_link=reset_link,
            others_signed_out=others_signed_out,
        )

    # -- self-service ---------------------------------------------------------------------

    def new_device(
        self,
        to: str,
        locale: str,
        *,
        name: str | None,
        device: str,
        when: datetime,
        account_link: str,
    ) -> None:
        self._send(
            to,
            locale,
            "new_device",
            N_("New sign-in to your account"),
            name=name,
            device=device,
            when=when,
            account_link=account_link,
        )

    def confirm_new_email(self, to: str, locale: str, *, name: str | None, link: str) -> None:
        # Only the new address gets the link: whoever reads the old mailbox cannot finish a
        # change they did not ask for, nor one they did for an address that is not theirs.
        self._send(
            to,
            locale,
            "email_change_confirm",
            N_("Confirm your new email address"),
            name=name,
            link=link,
        )

    def email_change_notice(
        self, to: str, locale: str, *, name: str | None, account_link: str, reset_link: str
    ) -> None:
        self._send(
            to,
            locale,
            "email_change_notice",
            N_("A change of your email address was requested"),
            name=name,
            account_link=account_link,
            reset_link=reset_link,
        )

    def email_change_taken(
        self, to: str, locale: str, *, name: str | None, login_link: str, reset_link: str
    ) -> None:
        # As for sign-up with a known address: the page says the same either way, and the
        # owner of the address learns what happened from their own mailbox.
        self._send(
            to,
            locale,
            "email_change_taken",
            N_("Someone tried to use your email address"),
            name=name,
            login_link=login_link,
            reset_link=reset_link,
        )
