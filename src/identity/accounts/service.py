"""Account use cases. Each public method is one transaction (or two, around a password hash).

Audit actions written here: ``account.signup``, ``account.email_verified``, ``login.succeeded``,
``login.failed``, ``login.throttled``, ``login.refused`` (a disabled account),
``login.second_factor_due``, ``password.reset_requested``, ``password.reset``,
``password.rehashed``, ``session.ended``, ``session.ended_others``,
``session.reauthenticated``, ``session.reauthentication_failed``,
``role.granted``, ``role.revoked``, ``password.changed``, ``email.change_requested``,
``email.changed``.

Mail goes out through :class:`~identity.mail.MailJobs`, after the transaction and off the
request path; requests that mail an address are limited per address and per client IP
(counted whether or not the address has an account, so the limit reveals nothing). The use
cases are grouped by family in :mod:`~identity.accounts.registration`,
:mod:`~identity.accounts.signin` (with :mod:`~identity.accounts.reauth`) and
:mod:`~identity.accounts.recovery`; self-service in :mod:`~identity.accounts.credentials` and
:mod:`~identity.accounts.email_change`, new-device alerts in :mod:`~identity.accounts.devices`.
"""

from __future__ import annotations

from identity.accounts.common import (
    AccountDisabled,
    AccountView,
    EmailNotVerified,
    InvalidForm,
    LoggedIn,
    LoginFailed,
    SecondFactorCheck,
    SessionEndedListener,
    SignInStep,
)
from identity.accounts.credentials import Credentials
from identity.accounts.email_change import EmailChange
from identity.accounts.pending import SecondFactorRequired
from identity.accounts.recovery import Recovery
from identity.accounts.registration import Registration
from identity.accounts.roles import Roles


class AccountService(Registration, Credentials, EmailChange, Recovery, Roles):
    """Every account use case, on one set of collaborators (see ``AccountsBase``)."""


__all__ = [
    "AccountDisabled",
    "AccountService",
    "AccountView",
    "EmailNotVerified",
    "InvalidForm",
    "LoggedIn",
    "LoginFailed",
    "SecondFactorCheck",
    "SecondFactorRequired",
    "SessionEndedListener",
    "SignInStep",
]
