"""Mail leaves through a real SMTP conversation in production, and the development mailbox is
only reachable in development mode."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from identity.app import create_app
from identity.mail import OutgoingMail, SmtpMailSender
from identity.settings import Environment, MailBackend


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_the_smtp_sender_delivers_a_real_message(make_settings, smtp_server):
    inbox, port = smtp_server
    settings = make_settings(
        mail_backend=MailBackend.smtp,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        mail_from="Demo Shop <no-reply@shop.example>",
    )
    SmtpMailSender(settings).send(
        OutgoingMail(
            to="ana@example.com",
            subject="Hola ñ",
            text="Enlace: https://x/verify?token=t",
            headers={"List-Unsubscribe": "<https://x/u>"},
        )
    )
    [(sender, recipients, content)] = inbox.messages
    message = message_from_bytes(content, policy=policy.default)
    assert (sender, recipients) == ("no-reply@shop.example", ["ana@example.com"])
    assert message["Subject"] == "Hola ñ"
    assert message["List-Unsubscribe"] == "<https://x/u>"
    assert "verify?token=t" in message.get_content()


def test_signup_mail_goes_through_smtp_when_configured(make_settings, smtp_server):
    from tests.support.forms import submit

    inbox, port = smtp_server
    settings = make_settings(
        mail_backend=MailBackend.smtp, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False
    )
    with TestClient(
        create_app(settings), base_url="http://testserver", follow_redirects=False
    ) as client:
        submit(
            client,
            "/signup",
            {
                "email": "ana@example.com",
                "name": "Ana",
                "password": "long enough pass",
                "locale": "en",
            },
        )
    assert len(inbox.messages) == 1


def test_the_development_mailbox_shows_messages_with_clickable_links(make_settings):
    from tests.support.forms import submit

    settings = make_settings(env=Environment.development)
    with TestClient(
        create_app(settings), base_url="http://testserver", follow_redirects=False
    ) as client:
        submit(
            client,
            "/signup",
            {
                "email": "ana@example.com",
                "name": "Ana",
                "password": "long enough pass",
                "locale": "en",
            },
        )
        page = client.get("/dev/mail")
    assert page.status_code == 200
    assert "Confirm your email address" in page.text
    assert 'href="http://testserver/verify?token=' in page.text


def test_the_development_mailbox_does_not_exist_outside_development(client):
    assert client.get("/dev/mail").status_code == 404
