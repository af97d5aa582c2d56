"""Signing in with an external OpenID provider, as pure decisions (no I/O).

``docs/upstream.md`` has the linking table; :func:`decide` is that table, in order:

=================================== ================== =========================================
the upstream identity (provider,sub) this browser       what happens
=================================== ================== =========================================
linked to account A                  nobody, or A       sign in to A
linked to account A                  another account B  refused (``already_linked``)
not linked                           account B          confirm, then link to B
not linked, no email from upstream   nobody             refused (``no_email``)
not linked, no account has the email nobody             create the account (``email_verified``
                                                        from upstream: at once; otherwise after
                                                        a mailed link opened in this browser)
not linked, an account has the email nobody             prove the account first: its password,
                                                        or a mailed link opened in this browser
=================================== ================== =========================================

An email match never links by itself: an upstream that asserts someone else's address (a
careless provider, an attacker's own provider) would otherwise sign in to that person's
account.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

AMR_FEDERATED = "fed"  # the session's method (RFC 8176 style): signed in through an upstream
PROVIDER_KEY = re.compile(r"[a-z][a-z0-9_-]{0,31}")
UNUSABLE_PASSWORD = "!upstream"  # an account created through an upstream has no password yet


class Outcome(StrEnum):
    sign_in = "sign_in"
    refuse_already_linked = "already_linked"
    confirm_link = "confirm_link"
    refuse_no_email = "no_email"
    create = "create"
    create_after_mail = "create_after_mail"
    prove_account = "prove_account"


@dataclass(frozen=True, slots=True)
class Identity:
    """What an upstream's checked ID token says about the shopper."""

    provider: str
    sub: str
    email: str | None
    email_verified: bool
    name: str


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    user_id: str | None = None  # the account signed in to, linked to or to be proved


def decide(
    *,
    linked_to: str | None,
    signed_in_as: str | None,
    email_owner: str | None,
    identity: Identity,
) -> Decision:
    """The linking table (module docstring): ids are account ids as text."""
    if linked_to is not None:
        if signed_in_as is None or signed_in_as == linked_to:
            return Decision(Outcome.sign_in, linked_to)
        return Decision(Outcome.refuse_already_linked)
    if signed_in_as is not None:
        return Decision(Outcome.confirm_link, signed_in_as)
    if not identity.email:
        return Decision(Outcome.refuse_no_email)
    if email_owner is None:
        return Decision(Outcome.create if identity.email_verified else Outcome.create_after_mail)
    return Decision(Outcome.prove_account, email_owner)


def may_unlink(*, has_password: bool, other_links: int) -> bool:
    """The last way into an account stays: unlinking needs a password or another link."""
    return has_password or other_links > 0


def has_password(password_hash: str) -> bool:
    return not password_hash.startswith("!")


# -- where an upstream may live --------------------------------------------------------------


def endpoint_problem(url: str, *, allow_loopback_http: bool) -> str | None:
    """Why ``url`` cannot be an upstream's issuer or endpoint, or None.

    https always; plain http only for a loopback host, and only where ``allow_loopback_http``
    (development and tests): a token endpoint over http would carry our client secret and
    the shopper's code in the clear."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        return "not an absolute URL"
    if parts.fragment:
        return "has a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return "not http(s)"
    if allow_loopback_http and _is_loopback(parts.hostname):
        return None
    return "must be https"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def discovery_problem(
    document: Mapping[str, object], issuer: str, *, allow_loopback_http: bool
) -> str | None:
    """Why a discovery document cannot be used for ``issuer`` (OIDC Discovery 1.0 §4.3: its
    ``issuer`` must be exactly the one asked for), or None."""
    for name in DISCOVERY_FIELDS:
        if not isinstance(document.get(name), str):
            return f"{name} missing"
    if document["issuer"] != issuer:
        return "issuer differs"
    for name in DISCOVERY_FIELDS[1:]:
        problem = endpoint_problem(str(document[name]), allow_loopback_http=allow_loopback_http)
        if problem:
            return f"{name} {problem}"
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        return "no PKCE S256"
    return None


# -- the callback ------------------------------------------------------------------------------


def callback_problem(
    params: Mapping[str, str], *, expected_state: str, issuer: str, iss_required: bool
) -> str | None:
    """Why an authorization response cannot be redeemed, as a reason code, or None.

    The ``state`` binds the response to this browser's flow (RFC 6749 §10.12). The ``iss``
    parameter (RFC 9207) names who answered: a different one is a mix-up attack, and an
    upstream that says it always sends it must send it."""
    if params.get("state") != expected_state:
        return "state_mismatch"
    iss = params.get("iss")
    if iss is not None and iss != issuer:
        return "issuer_mismatch"
    if iss is None and iss_required:
        return "issuer_missing"
    if "error" in params:
        return "upstream_error"
    if not params.get("code"):
        return "no_code"
    return None


def identity_from_claims(provider: str, claims: Mapping[str, object], client_id: str) -> Identity:
    """The shopper as a checked ID token names them (signature, iss, aud, exp and nonce
    already verified). Raises ValueError for claims no account can be made from."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise ValueError("sub")
    aud = claims.get("aud")
    # OIDC Core §3.1.3.7: with several audiences the token must be issued to us (azp).
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise ValueError("azp")
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and "@" in email else None
    name = claims.get("name")
    return Identity(
        provider=provider,
        sub=sub,
        email=email if email and len(email) <= 320 else None,
        email_verified=claims.get("email_verified") is True and email is not None,
        name=(name.strip()[:100] if isinstance(name, str) else "") or "",
    )


def display_name(identity: Identity) -> str:
    """The new account's name: the upstream's, or the email's local part."""
    if identity.name:
        return identity.name
    return (identity.email or "").split("@", 1)[0][:100] or "-"
