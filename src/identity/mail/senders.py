"""Mail senders. Bodies never reach the process log: they hold single-use links."""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import ssl
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from identity.settings import MailBackend, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # the HTML alternative (identity.mail.layout), when there is one


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> None: ...


class FileMailSender:
    """Development and tests: one JSON file per message, newest last by name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, mail: OutgoingMail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_text(json.dumps({**asdict(mail), "sent_at": now.isoformat()}))
        os.replace(tmp, self.directory / name)  # readers never see half a message
        log.info(
            "mail to %s stored in %s (subject: %s)", _mask(mail.to), self.directory, mail.subject
        )


class SmtpMailSender:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, mail: OutgoingMail) -> None:
        s = self._settings
        message = EmailMessage()
        message["From"] = s.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(
            domain=s.mail_from.rpartition("@")[2].strip("> ") or None
        )
        for name, value in mail.headers.items():
            message[name] = value
        message.set_content(mail.text)
        if mail.html:  # multipart/alternative: the text first, the preferred part last
            message.add_alternative(mail.html, subtype="html")
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)
        log.info("mail to %s sent over SMTP (subject: %s)", _mask(mail.to), mail.subject)


def sender_from_settings(settings: Settings) -> MailSender:
    if settings.effective_mail_backend is MailBackend.smtp:
        return SmtpMailSender(settings)
    return FileMailSender(settings.var_dir / "mail")


def read_mailbox(directory: Path, limit: int = 50) -> list[dict[str, object]]:
    """The newest ``limit`` messages written by :class:`FileMailSender`, newest first."""
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))
    messages = []
    for path in reversed(files[-limit:]):
        try:
            messages.append({"id": path.stem, **json.loads(path.read_text())})
        except (OSError, ValueError):
            continue
    return messages


_MESSAGE_ID = re.compile(r"[0-9]{8}T[0-9]{12}-[0-9a-f]{8}")


def read_message(directory: Path, message_id: str) -> dict[str, object] | None:
    """One message written by :class:`FileMailSender`, by the id the mailbox lists."""
    if not _MESSAGE_ID.fullmatch(message_id):
        return None  # never a path from the request
    try:
        message: dict[str, object] = json.loads((directory / f"{message_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return message


def _mask(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
