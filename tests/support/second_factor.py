"""The second factor as a browser meets it: enrol an authenticator app from the security page
(the secret read off the page, codes computed by pyotp), and the code step of signing in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pyotp

from tests.support.forms import submit

_SECRET = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
_RECOVERY = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Authenticator:
    """The phone's app: the secret as shown on the page, and the steps already used."""

    totp: pyotp.TOTP
    last_step: int | None = field(default=None)

    def next_code(self) -> str:
        """A code the provider has not accepted yet: the current step's, or the next one's
        (allowed for clock drift) when the current one was used. Two codes in one time step
        are all there is; after that, advance the clock (``clock.tick(30)``)."""
        now = datetime.now(UTC)
        current = self.totp.timecode(now)
        step = current if self.last_step is None else max(current, self.last_step + 1)
        assert step <= current + 1, "no unused code is valid yet: advance the clock 30 s"
        self.last_step = step
        return self.totp.at(now, counter_offset=step - current)


@dataclass
class Enrolment:
    app: Authenticator
    recovery_codes: list[str]
    page: Any  # the recovery codes page


def shown_secret(html: str) -> str:
    match = _SECRET.search(html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def recovery_codes(html: str) -> list[str]:
    return _RECOVERY.findall(html)


def page_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return unescape(match.group(1))


def start_enrolment(client: Any, next_url: str = "/account") -> Authenticator:
    """Press "Set up an authenticator app" and read the key off the page."""
    started = submit(
        client, "/account/security/totp", {"next": next_url}, form_page="/account/security"
    )
    assert started.status_code == 303, started.text
    page = client.get(started.headers["location"])
    assert page.status_code == 200
    return Authenticator(pyotp.TOTP(shown_secret(page.text)))


def enrol(client: Any, next_url: str = "/account") -> Enrolment:
    """Set up the app from the security page and confirm it with its first code."""
    app = start_enrolment(client, next_url)
    page = submit(
        client,
        "/account/security/totp/confirm",
        {"code": app.next_code(), "next": next_url},
        form_page="/account/security",
    )
    assert page.status_code == 200, page.text
    codes = recovery_codes(page.text)
    assert len(codes) == 10
    return Enrolment(app, codes, page)


def enter_code(client: Any, code: str, next_url: str = "/account") -> Any:
    """The sign-in's code step (after the password)."""
    return submit(client, "/login/code", {"code": code, "next": next_url}, form_page="/login")


def wrong_code(totp: pyotp.TOTP) -> str:
    """Six digits that are none of the codes the provider would accept right now."""
    now = datetime.now(UTC)
    valid = {totp.at(now, counter_offset=offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
