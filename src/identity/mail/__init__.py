"""Outgoing mail behind one small interface: SMTP in production, files in development.

The file sender writes each message as JSON under ``var/mail``; in development mode the
mailbox is readable at ``/dev/mail`` so a person trying ``make run`` can click the links.
"""

from identity.mail.jobs import MailJobs
from identity.mail.layout import MailBody, render_mail
from identity.mail.senders import (
    FileMailSender,
    MailSender,
    OutgoingMail,
    SmtpMailSender,
    read_mailbox,
    sender_from_settings,
)

__all__ = [
    "FileMailSender",
    "MailBody",
    "MailJobs",
    "MailSender",
    "OutgoingMail",
    "SmtpMailSender",
    "read_mailbox",
    "render_mail",
    "sender_from_settings",
]
