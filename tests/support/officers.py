"""A privacy officer's browser, signed in: what every console test starts from.

PLACEHOLDER (issue 13): the second-factor branch brings the real version of this file, which
also enrols and enters a TOTP code (``totp``). Same names, same signature; at merge theirs
replaces this one, and the console's tests get their officers from it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from identity.accounts.models import User
from identity.context import OFFICER
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login


@dataclass
class Officer:
    client: Any  # the officer's browser (a TestClient with their session cookie)
    user: User
    password: str
    totp: Any = None  # the enrolled second factor (pyotp.TOTP); None here: no second factor yet


def signed_in_officer(client: Any, runtime: Any, make_user: Callable[..., User]) -> Officer:
    """A new account with the officer role, signed in on ``client`` with its password."""
    user = make_user()
    runtime.accounts.grant_role(user.email, OFFICER, operator="test")
    signed = login(client, user.email, DEFAULT_PASSWORD)
    assert signed.status_code == 303, signed.text
    return Officer(client, user, DEFAULT_PASSWORD, None)
