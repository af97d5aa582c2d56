"""Text messages (SMS double opt-in) behind the same kind of interface as mail.

Development and tests write them to the development mailbox (shown at ``/dev/mail``); in
production they are POSTed as JSON to ``IDENTITY_SMS_GATEWAY_URL`` (the retailer's SMS
provider or a small adapter in front of it). Without a gateway, SMS opt-in is unavailable and
the preference center says so instead of pretending.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from identity.mail.senders import FileMailSender, OutgoingMail
from identity.settings import Environment, Settings

log = logging.getLogger(__name__)


class SmsUnavailable(Exception):
    pass


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None: ...


class MailboxSmsSender:
    def __init__(self, mailbox: FileMailSender) -> None:
        self._mailbox = mailbox

    def send(self, to: str, text: str) -> None:
        self._mailbox.send(OutgoingMail(to=to, subject="SMS", text=text, headers={"kind": "sms"}))


class GatewaySmsSender:
    def __init__(self, url: str, timeout: float) -> None:
        self._url = url
        self._timeout = timeout

    def send(self, to: str, text: str) -> None:
        response = httpx.post(self._url, json={"to": to, "text": text}, timeout=self._timeout)
        response.raise_for_status()
        log.info("sms to ***%s sent through the gateway", to[-3:])


class NoSmsSender:
    def send(self, to: str, text: str) -> None:
        raise SmsUnavailable("no SMS gateway is configured (IDENTITY_SMS_GATEWAY_URL)")


def sms_sender_from_settings(settings: Settings) -> SmsSender:
    if settings.sms_gateway_url:
        return GatewaySmsSender(settings.sms_gateway_url, settings.smtp_timeout)
    if settings.env is Environment.production:
        return NoSmsSender()
    return MailboxSmsSender(FileMailSender(settings.var_dir / "mail"))
