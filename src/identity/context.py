"""Request-context types every capability shares: who is asking, and who is signed in.

They live here, outside any capability, so that accounts, consent, the provider and the web
layer can all name them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the context names the account rows, it needs no code
    from identity.accounts.models import BrowserSession, User


LOCALES = ("en", "es")  # every page, mail, purpose text and claim exists in these languages
OFFICER = "officer"  # the role that opens the privacy console (``/admin``)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who is asking, as far as the request tells: never stored raw."""

    ip: str
    user_agent: str = ""
    locale: str = "en"
    device: str = ""  # the first-party device cookie as sent (checked by accounts.devices)


@dataclass(frozen=True, slots=True)
class CurrentSession:
    """The signed-in user of a browser, and their session."""

    user: User
    session: BrowserSession
