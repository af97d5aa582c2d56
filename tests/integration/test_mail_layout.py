"""Every mail has an HTML part made in one layout from its text: the same links (each main link
a button), the brand, a footer saying why it came with the privacy policy; nothing unescaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest

from identity.mail import OutgoingMail, SmtpMailSender, render_mail
from identity.mail.layout import URL, blocks_of
from identity.settings import MailBackend
from tests.integration.test_mail import smtp_server  # noqa: F401 (a fixture)
from tests.support.forms import submit

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"
# Every mail template; SMS texts (``*_sms.txt``) are not mails and have no HTML part.
MAILS = sorted(
    p.stem for p in TEMPLATES.glob("*.txt") if not p.name.startswith("_") and "_sms" not in p.stem
)
HOSTILE = '<b onclick="x()">Ana & "co"</b>'
CONTEXT = {
    "name": HOSTILE,
    "link": "https://id.example/verify?token=abc&next=/x",
    "login_link": "https://id.example/login",
    "reset_link": "https://id.example/forgot?email=a%40b",
    "purpose": HOSTILE,
    "brand": "Demo Shop",
    "requested_at": datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    "scheduled_for": datetime(2026, 12, 9, 9, 0, tzinfo=UTC),
    # the self-service and external sign-in mails
    "account_link": "https://id.example/account",
    "device": HOSTILE,
    "when": datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
    "others_signed_out": True,
    "provider": HOSTILE,
}


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.hrefs += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> Parsed:
    parser = Parsed()
    parser.feed(html)
    return parser


def test_there_are_mail_templates_to_check():
    assert {"verify_email", "reset_password", "consent_confirm", "erasure_requested"} <= set(MAILS)


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("name", MAILS)
def test_every_mail_renders_both_parts_with_the_same_links(runtime, settings, name, lang):
    body = render_mail(runtime.templates, name, lang, dict(CONTEXT))
    html = parsed(body.html)
    privacy = f"{settings.issuer}/privacy/purposes"
    assert URL.findall(body.text) == html.hrefs  # the same links, in the same order
    assert html.hrefs[-1] == privacy  # the footer's privacy policy, in both parts
    assert body.text.rstrip().endswith(privacy)
    assert "\n-- \n" in body.text
    assert f'lang="{lang}"' in body.html
    assert settings.brand_name in "".join(html.text)


@pytest.mark.parametrize("name", MAILS)
def test_nothing_a_customer_typed_reaches_the_html_unescaped(runtime, name):
    body = render_mail(runtime.templates, name, "en", dict(CONTEXT))
    assert "<b onclick" not in body.html
    assert 'onclick="' not in body.html
    assert parsed(body.html).tags.isdisjoint({"b", "script"})
    if "name" in (TEMPLATES / f"{name}.txt").read_text():
        assert "&lt;b onclick=&#34;x()&#34;&gt;Ana &amp; &#34;co&#34;&lt;/b&gt;" in body.html


def test_the_main_link_is_a_button_named_by_the_mail_not_a_raw_address(runtime):
    body = render_mail(runtime.templates, "verify_email", "en", dict(CONTEXT))
    button = re.search(r'<a href="https://id.example/verify[^"]*"[^>]*>([^<]*)</a>', body.html)
    assert button
    assert button.group(1) == "Confirm my email address"
    assert "https://id.example/verify" not in "".join(parsed(body.html).text)


def test_a_label_before_a_link_names_its_button():
    blocks = blocks_of("Hello,\n\nSign in: https://a.example/login\nForgot it? https://a.example/r")
    assert [(b.href, b.label) for b in blocks if b.href] == [
        ("https://a.example/login", "Sign in"),
        ("https://a.example/r", "Forgot it?"),
    ]


def test_smtp_sends_multipart_alternative_with_the_text_first(make_settings, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    settings = make_settings(
        mail_backend=MailBackend.smtp, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False
    )
    SmtpMailSender(settings).send(
        OutgoingMail("ana@example.com", "Hola", "Texto https://x.example", html="<p>HTML</p>")
    )
    [(_, _, content)] = inbox.messages
    message = message_from_bytes(content, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_the_development_mailbox_shows_the_html_part_in_a_sandboxed_frame(
    make_settings, customer, tmp_path
):
    from starlette.testclient import TestClient

    from identity.app import create_app
    from identity.runtime import Runtime
    from identity.settings import Environment

    settings = make_settings(env=Environment.development)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime), follow_redirects=False) as client:
        submit(client, "/forgot", {"email": customer.email})
        page = client.get("/dev/mail")
        frame = re.search(
            r'<iframe class="mail-html" src="(/dev/mail/[^"]+\.html)" sandbox', page.text
        )
        assert frame, page.text
        html = client.get(frame.group(1))
        assert html.status_code == 200
        assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
        assert "script-src" not in html.headers["content-security-policy"]  # default 'none'
        assert "/reset?token=" in html.text
        for bad in ("/dev/mail/..%2Fsecret_key.html", "/dev/mail/nope.html"):
            assert client.get(bad).status_code == 404
        # The mailbox's "Open link" buttons are the message's own links, not the footer's.
        assert page.text.count('/privacy/purposes"') == 1  # the page footer's only
    runtime.close()
