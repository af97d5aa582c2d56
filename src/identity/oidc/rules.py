"""Provider rules as pure functions: redirect URIs, subjects, claims, prompts, key lifecycle.

Nothing here touches the database, HTTP or Authlib; the grant hooks and services call these.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

# -- scopes and claims ---------------------------------------------------------------------

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
SERVICE_SCOPES = (
    "consent:read",
    "consent:write",
    "audit:read",
    "anonymous:issue",
    "identity:resolve",
)
# Delegated by the customer, but only to the retailer's own channels: reading and changing
# their consent choices through ``/v1/me``. A third party can never be registered for it.
FIRST_PARTY_SCOPES = ("preferences",)

SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "profile": ("name", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}
CLAIMS_SUPPORTED = (
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid",
    *(claim for claims in SCOPE_CLAIMS.values() for claim in claims),
)  # fmt: skip
ACR_PASSWORD = "urn:identity:acr:password"
# OpenID Enhanced Authentication Profile (EAP) ACR Values 1.0 §2: "phishing resistant", an
# authentication that does not hand the relying party's secret to whoever asks for it: a
# passkey (WebAuthn binds its signature to our origin).
ACR_PHISHING_RESISTANT = "phr"
ACR_VALUES_SUPPORTED = (ACR_PASSWORD, ACR_PHISHING_RESISTANT)
_ACR_LEVEL = {ACR_PASSWORD: 1, ACR_PHISHING_RESISTANT: 2}
PASSKEY_METHODS = frozenset({"hwk", "swk"})  # RFC 8176: the key (passkeys/rules.py amr_for)


def scopes_of(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split() if s]


def claims_for_scopes(profile: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """The user claims a token with ``scope`` may carry; absent values are left out."""
    granted = set(scopes_of(scope))
    claims: dict[str, Any] = {}
    for scope_name, names in SCOPE_CLAIMS.items():
        if scope_name in granted:
            claims.update({n: profile[n] for n in names if profile.get(n) is not None})
    return claims


def allowed_scope(requested: str | None, client_scope: str) -> str:
    """Requested scopes the client may have, in request order (unknown ones dropped)."""
    allowed = set(scopes_of(client_scope))
    wanted = scopes_of(requested) or scopes_of(client_scope)
    seen: list[str] = []
    for s in wanted:
        if s in allowed and s not in seen:
            seen.append(s)
    return " ".join(seen)


def issues_refresh_token(*, first_party: bool, client_may_refresh: bool, scope: str) -> bool:
    """First-party clients refresh when registered for it; third parties need
    ``offline_access`` granted by the user (OpenID Connect Core §11)."""
    if not client_may_refresh:
        return False
    return first_party or "offline_access" in scopes_of(scope)


def may_introspect(
    *,
    kind: str,
    token_client: str,
    audience: object,
    caller: str,
    caller_serves: Sequence[str],
) -> bool:
    """RFC 7662 §4: a token is described only to the client it was issued to, or (access
    tokens) to a resource server registered for one of its audiences. Refresh tokens are
    only ever the issuing client's business."""
    if caller == token_client:
        return True
    if kind != "access_token":
        return False
    audiences = audience if isinstance(audience, list) else [audience]
    return any(isinstance(a, str) and a in caller_serves for a in audiences)


def resource_identifier_problem(uri: str) -> str | None:
    """Why ``uri`` cannot name a resource server (RFC 8707 §2: absolute, no fragment)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https" or not parts.hostname:
        return "must be an absolute https URL"
    if parts.fragment:
        return "must not contain a fragment"
    return None


# -- redirect URIs (RFC 9700 §4.1, RFC 8252 §7.3) -------------------------------------------

LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "::1")


def _is_loopback_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: Iterable[str], requested: str, *, native: bool) -> bool:
    """Exact string comparison, with one exception: a native app's loopback IP redirect URI
    may use any port (RFC 8252 §7.3), everything else (scheme, host, path, query) equal."""
    registered = list(registered)
    if requested in registered:
        return True
    if not native:
        return False
    asked = urlsplit(requested)
    if asked.scheme != "http" or not _is_loopback_ip(asked.hostname):
        return False
    for candidate in registered:
        known = urlsplit(candidate)
        if (
            known.scheme == "http"
            and _is_loopback_ip(known.hostname)
            and known.hostname == asked.hostname
            and known.path == asked.path
            and known.query == asked.query
            and not asked.fragment
        ):
            return True
    return False


def redirect_uri_problem(uri: str, *, application_type: str) -> str | None:
    """Why a redirect URI cannot be registered, or None when it can."""
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.fragment:
        return "must not contain a fragment"
    if "*" in uri:
        return "must not contain wildcards"
    if parts.scheme == "https":
        return None if parts.hostname else "needs a host"
    if parts.scheme == "http":
        if _is_loopback_ip(parts.hostname) or parts.hostname == "localhost":
            return None  # development and native apps on the loopback interface
        return "must use https (http is allowed only on the loopback interface)"
    if application_type == "native" and "." in parts.scheme and not parts.netloc:
        return None  # private-use URI scheme, e.g. com.shop.app:/callback (RFC 8252 §7.1)
    return "must use https, loopback http, or (native apps) a reverse-domain private scheme"


def sector_identifier(redirect_uris: Sequence[str]) -> str:
    """The host shared by the redirect URIs (OpenID Connect Core §8.1)."""
    hosts = {urlsplit(u).hostname or urlsplit(u).scheme for u in redirect_uris}
    if len(hosts) != 1:
        raise ValueError("pairwise clients need redirect URIs on one host (their sector)")
    return hosts.pop()


# -- client authentication -------------------------------------------------------------------


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Client id and secret of an ``Authorization: Basic`` header (RFC 6749 §2.3.1: each
    form-urlencoded, joined by a colon, then base64), or None unless it is well-formed."""
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(parts[1].encode("ascii")).decode("utf-8")
    except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8
        return None
    client_id, colon, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if colon else None


# -- authentication freshness ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Freshness:
    """What the authorization request says about how recent the sign-in must be."""

    prompt: frozenset[str]
    max_age: int | None
    login_completed_at: datetime | None  # sign-in done for *this* request (interaction)


def parse_max_age(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    value = int(raw)  # ValueError -> invalid_request
    if value < 0:
        raise ValueError("max_age must not be negative")
    return value


def must_sign_in(auth_time: datetime | None, now: datetime, want: Freshness) -> bool:
    """True when the user has to (re-)enter their password before a code is issued."""
    if auth_time is None:
        return True
    done_for_this_request = (
        want.login_completed_at is not None and auth_time >= want.login_completed_at
    )
    if "login" in want.prompt and not done_for_this_request:
        return True
    if want.max_age is not None and (now - auth_time).total_seconds() > want.max_age:
        return not done_for_this_request
    return False


# -- authentication context (acr) -----------------------------------------------------------
#
# ``acr_values`` (OpenID Connect Core §3.1.2.1) is honoured as a floor, not merely a wish: of
# the values we support, the least demanding one is what the sign-in must reach, and a
# session below it signs in again (with a passkey, for ``phr``) before a code is issued;
# with ``prompt=none`` that is ``login_required``. Values we do not know are ignored, so a
# list of only unknown values asks for nothing. The ``claims`` parameter is not supported
# (``claims_parameter_supported: false``), hence no "essential" acr through it.


def amr_claim(methods: Iterable[str]) -> tuple[str, ...]:
    """The ``amr`` claim (RFC 8176 §2) for a session's methods: as they are, plus "mfa" when
    a password and a one-time code were both proven (a passkey's methods include it)."""
    listed = list(dict.fromkeys(methods))
    if "pwd" in listed and "otp" in listed and "mfa" not in listed:
        listed.append("mfa")
    return tuple(listed)


def acr_of(amr: Iterable[str]) -> str | None:
    """The ``acr`` a sign-in with these methods reached (what the ID token says)."""
    methods = set(amr)
    if not PASSKEY_METHODS.isdisjoint(methods):
        return ACR_PHISHING_RESISTANT
    if "pwd" in methods:
        return ACR_PASSWORD
    return None


def acr_floor(acr_values: str | None) -> str | None:
    """The least demanding acr of the request that we know, or None (it asks for nothing)."""
    wanted = [v for v in scopes_of(acr_values) if v in _ACR_LEVEL]
    return min(wanted, key=_ACR_LEVEL.__getitem__) if wanted else None


def unmet_acr(acr_values: str | None, amr: Iterable[str]) -> str | None:
    """The acr the browser must sign in to reach before a code is issued, or None when the
    session's methods (``amr``) meet the request already (or it asks for nothing known)."""
    floor = acr_floor(acr_values)
    if floor is None:
        return None
    have = acr_of(amr)
    if have is not None and _ACR_LEVEL[have] >= _ACR_LEVEL[floor]:
        return None
    return floor


# -- signing keys -----------------------------------------------------------------------------
#
# Which key signs and which keys are published are two views of one timeline and must agree:
# a token signed at ``t`` verifies against ``/jwks`` until ``t + longest_token_ttl``.
#
# Creation order decides, not activation order: of the keys of an algorithm whose activation
# time has come, the one created last signs. A rotation made later therefore replaces every
# earlier one as soon as it activates, even when its delay was shorter, and an earlier
# rotation whose activation time comes afterwards never takes signing back (it never signs,
# and leaves ``/jwks`` like any superseded key). Operators read ``identity keys rotate`` as
# "from now on, this key": activation order would let a forgotten, slower rotation undo a
# newer (perhaps urgent) one an hour later.


@dataclass(frozen=True, slots=True)
class KeyTimes:
    kid: str
    alg: str
    created_at: datetime
    activates_at: datetime
    retired_at: datetime | None


def _creation_order(key: KeyTimes) -> tuple[datetime, datetime, str]:
    # Equal creation times happen only under a frozen test clock (start-up and a rotation in
    # the same instant): the later activation is then the rotation, hence the newer key.
    return (key.created_at, key.activates_at, key.kid)


def signing_kid(keys: Iterable[KeyTimes], alg: str, now: datetime) -> str | None:
    """The key of ``alg`` created last among those whose activation time has come."""
    active = [k for k in keys if k.alg == alg and k.activates_at <= now and k.retired_at is None]
    return max(active, key=_creation_order).kid if active else None


def published_kids(
    keys: Iterable[KeyTimes], now: datetime, longest_token_ttl: timedelta
) -> list[str]:
    """Keys in ``/jwks``: the next ones (published before they sign), the current one, and
    superseded ones until the last token they may have signed has expired."""
    keys = list(keys)
    kids = []
    for k in keys:
        if k.retired_at is not None:
            # Retiring (``identity keys retire``) means "stop trusting it": the key leaves at
            # once, and what it signed stops verifying. An orderly change is a rotation.
            if now < k.retired_at:
                kids.append(k.kid)
            continue
        superseded_at = _superseded_at(k, keys, now)
        if superseded_at is None or now < superseded_at + longest_token_ttl:
            kids.append(k.kid)
    return kids


def _superseded_at(key: KeyTimes, keys: list[KeyTimes], now: datetime) -> datetime | None:
    """Since when ``key`` (not retired) can never sign again: the first activation of a key of
    the same algorithm created after it, which outranks it from then on (see
    :func:`signing_kid`). A retired key never signs, so it supersedes nothing."""
    later = [
        k.activates_at
        for k in keys
        if k.alg == key.alg
        and k.retired_at is None
        and _creation_order(k) > _creation_order(key)
        and k.activates_at <= now
    ]
    return min(later) if later else None


def retirement_problem(
    keys: Sequence[KeyTimes], kid: str, now: datetime, published: Iterable[str]
) -> str | None:
    """Why ``kid`` may not be retired now (None: it may). ``published``: the kids published
    now (``published_kids``, or every key for receipt keys).

    A pending or superseded key may always go. The key that signs now may go only if the key
    that would sign in its place is published already, so relying parties have it: never the
    only key of its algorithm (clients registered for that algorithm would get no tokens),
    and never by reviving an older key that has left ``/jwks``."""
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        return f"no key {kid}"
    if key.retired_at is not None:
        return f"{kid} is retired already"
    if signing_kid(keys, key.alg, now) != kid:
        return None
    rest = [k for k in keys if k.kid != kid]
    successor = signing_kid(rest, key.alg, now)
    rotate = (
        f"rotate first (identity keys rotate --alg {key.alg}) and retire it once the new key signs"
    )
    if successor is None:
        return f"{kid} is the only key signing {key.alg}: {rotate}"
    if successor not in set(published):
        return f"the key that would sign instead, {successor}, is no longer published: {rotate}"
    return None


# -- how long provider rows answer anything -----------------------------------------------------

# A used or expired code is kept this many lifetimes, so that a late replay is still recognised
# (and revokes what the first redemption issued, RFC 6749 §4.1.2) before it is forgotten.
CODE_REMEMBERED_LIFETIMES = 10


def codes_forgotten_before(now: datetime, code_ttl: timedelta) -> datetime:
    """Codes that expired before this are forgotten: a replay is then just an unknown code."""
    return now - code_ttl * CODE_REMEMBERED_LIFETIMES
