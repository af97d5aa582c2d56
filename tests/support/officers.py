"""A privacy officer signed in the way the console requires: the ``officer`` role, an
authenticator app enrolled from the security page, and a sign-in with password and code.

    officer = signed_in_officer(client, runtime, make_user)
    officer.client.get("/admin")            # passes officer_required()
    officer.next_code()                     # a code not used yet (re-authentication)

Codes come from the secret the security page showed, computed by pyotp. A code is accepted
once, so use :meth:`Officer.next_code` for every code you submit; it gives the current time
step's code or the next one's, and asks you to advance a frozen clock (``clock.tick(30)``)
when both were used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
from starlette.testclient import TestClient

from identity.accounts.models import User
from identity.context import OFFICER
from identity.runtime import Runtime
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, submit
from tests.support.second_factor import Authenticator, enrol, enter_code


@dataclass
class Officer:
    client: TestClient
    user: User
    totp: pyotp.TOTP
    password: str
    recovery_codes: list[str] = field(default_factory=list)
    app: Authenticator | None = field(default=None, repr=False)

    def next_code(self) -> str:
        """A TOTP code the provider has not accepted yet (see the module docstring)."""
        assert self.app is not None
        return self.app.next_code()


def signed_in_officer(
    client: TestClient, runtime: Runtime, make_user: Callable[..., User], **user: Any
) -> Officer:
    """Create an account, grant it ``officer``, enrol TOTP through the pages, sign out and
    sign in again with the password and a code; ``client`` holds the officer's session."""
    officer = make_user(**{"name": "Olga Officer", **user})
    password = user.get("password", DEFAULT_PASSWORD)
    runtime.accounts.grant_role(officer.email, OFFICER, operator="test")
    assert login(client, officer.email, password).status_code == 303
    enrolment = enrol(client)
    submit(client, "/logout", {}, form_page="/account")
    step = login(client, officer.email, password)
    assert step.headers["location"].startswith("/login/code"), step.headers.get("location")
    signed_in = enter_code(client, enrolment.app.next_code())
    assert signed_in.status_code == 303, signed_in.text
    return Officer(
        client, officer, enrolment.app.totp, password, enrolment.recovery_codes, enrolment.app
    )
