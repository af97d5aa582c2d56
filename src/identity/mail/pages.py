"""``/dev/mail``: the development mailbox, so links can be clicked without an SMTP server.

Mounted only when ``IDENTITY_ENV=development``; in any other mode the path does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.mail.layout import FOOTER_SEPARATOR
from identity.mail.senders import read_mailbox, read_message
from identity.web.deps import RuntimeDep
from identity.web.pages import render

router = APIRouter(include_in_schema=False)

_LINK = re.compile(r"https?://[^\s<>\"']+")


@router.get("/dev/mail")
def mailbox(request: Request, runtime: RuntimeDep) -> Response:
    runtime.mail_jobs.drain(timeout=5)  # messages being sent right now are shown too
    messages = read_mailbox(runtime.settings.var_dir / "mail")
    for message in messages:
        # The message's own links, not the footer's (the privacy policy is in every mail).
        body = str(message.get("text", "")).split(FOOTER_SEPARATOR, 1)[0]
        message["links"] = _LINK.findall(body)
        try:
            message["sent_at_dt"] = datetime.fromisoformat(str(message.get("sent_at")))
        except ValueError:
            message["sent_at_dt"] = None
    return render(request, "dev/mail.html", {"messages": messages})


# The HTML part as a document of its own, shown in a sandboxed frame of the mailbox page: the
# mail's inline styles need a policy of their own, and its scripts (none) would run nowhere.
MAIL_HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


@router.get("/dev/mail/{message_id}.html")
def mail_html(message_id: str, runtime: RuntimeDep) -> Response:
    message = read_message(runtime.settings.var_dir / "mail", message_id)
    html = message.get("html") if message else None
    if not isinstance(html, str):
        return Response("no such message", status_code=404, media_type="text/plain")
    headers = {"Content-Security-Policy": MAIL_HTML_POLICY, "X-Frame-Options": "SAMEORIGIN"}
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)
