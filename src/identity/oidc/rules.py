"""Provider rules as pure functions: redirect URIs, subjects, claims, prompts, key lifecycle.

Nothing here touches the database, HTTP or Authlib; the grant hooks and services call these.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

# -- scopes and claims ---------------------------------------------------------------------

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
SERVICE_SCOPES = ("consent:read", "consent:write")

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


def pairwise_subject(sector: str, local_sub: str, salt: bytes) -> str:
    """``sub`` as seen by a pairwise client: no two sectors can correlate a customer."""
    digest = hashlib.sha256(sector.encode() + b"\x00" + local_sub.encode() + b"\x00" + salt)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


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


# -- signing keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyTimes:
    kid: str
    alg: str
    activates_at: datetime
    retired_at: datetime | None


def signing_kid(keys: Iterable[KeyTimes], alg: str, now: datetime) -> str | None:
    """The newest key of ``alg`` whose activation time has come."""
    active = [k for k in keys if k.alg == alg and k.activates_at <= now and k.retired_at is None]
    return max(active, key=lambda k: k.activates_at).kid if active else None


def published_kids(
    keys: Iterable[KeyTimes], now: datetime, longest_token_ttl: timedelta
) -> list[str]:
    """Keys in ``/jwks``: the next ones (published before they sign), the current one, and
    retired ones until the last token they may have signed has expired."""
    keys = list(keys)
    kids = []
    for k in keys:
        superseded_at = _superseded_at(k, keys, now)
        if superseded_at is None or now < superseded_at + longest_token_ttl:
            kids.append(k.kid)
    return kids


def _superseded_at(key: KeyTimes, keys: list[KeyTimes], now: datetime) -> datetime | None:
    """When a newer key of the same algorithm took over signing from ``key``."""
    later = [
        k.activates_at
        for k in keys
        if k.alg == key.alg and k.activates_at > key.activates_at and k.activates_at <= now
    ]
    candidates = [*later, *([key.retired_at] if key.retired_at else [])]
    return min(candidates) if candidates else None
