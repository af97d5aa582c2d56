"""``/dev/mail``: the development mailbox, so links can be clicked without an SMTP server.

Mounted only when ``IDENTITY_ENV=development``; in any other mode the path does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.mail.senders import read_mailbox
from identity.web.deps import RuntimeDep
from identity.web.pages import render

router = APIRouter(include_in_schema=False)

_LINK = re.compile(r"https?://[^\s<>\"']+")


@router.get("/dev/mail")
def mailbox(request: Request, runtime: RuntimeDep) -> Response:
    runtime.mail_jobs.drain(timeout=5)  # messages being sent right now are shown too
    messages = read_mailbox(runtime.settings.var_dir / "mail")
    for message in messages:
        message["links"] = _LINK.findall(str(message.get("text", "")))
        try:
            message["sent_at_dt"] = datetime.fromisoformat(str(message.get("sent_at")))
        except ValueError:
            message["sent_at_dt"] = None
    return render(request, "dev/mail.html", {"messages": messages})
