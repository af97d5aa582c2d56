"""Checking a logout token the way a relying party must (Back-Channel Logout 1.0 §2.6).

The provider POSTs ``logout_token=<JWT>`` to the channel's registered back-channel logout URI
when a browser session at the provider ends. Nothing here trusts the database or the sender:
the token is verified only against the provider's published keys, and every check the
specification asks for is one line below.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # explicit typing (§2.4), so no other JWT passes as one
LEEWAY = 60  # seconds of clock skew tolerated on iat/exp
# A token naming an unknown ``kid`` makes us fetch the provider's keys again (they may have
# rotated), but not more often than this: forged tokens must not turn us into a flood.
REFETCH_INTERVAL = 10.0

JwksFetcher = Callable[[bool], Awaitable[dict[str, Any]]]
"""``fetch(force)`` returns the provider's JWKS; ``force`` bypasses the cache."""


class InvalidLogoutToken(Exception):
    """The logout token must be refused with HTTP 400 (§2.8)."""


@dataclass(frozen=True)
class LogoutEvent:
    """What a valid logout token says ended: one session (``sid``), or all of ``sub``'s."""

    sid: str | None
    sub: str | None
    issued_at: int


@dataclass
class LogoutTokenVerifier:
    """Verifies logout tokens for one client and remembers their ``jti`` against replays."""

    issuer: str
    client_id: str
    algorithms: list[str]
    fetch_jwks: JwksFetcher
    clock: Callable[[], float] = time.time
    _seen: dict[str, float] = field(default_factory=dict)  # jti -> when we may forget it
    _last_refetch: float = float("-inf")

    async def verify(self, raw: str) -> LogoutEvent:
        token = await self._decode(raw)
        header, claims = token.header, dict(token.claims)
        if header.get("typ") != LOGOUT_TOKEN_TYPE:
            raise InvalidLogoutToken(f"typ must be {LOGOUT_TOKEN_TYPE}")
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidLogoutToken(f"{exc.error}: {exc.description}") from exc
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
            raise InvalidLogoutToken("events lacks the back-channel logout event")
        if "nonce" in claims:  # forbidden, so an ID token can never pass as a logout token
            raise InvalidLogoutToken("a logout token must not contain a nonce")
        sid, sub = claims.get("sid"), claims.get("sub")
        if not isinstance(sid, str) and not isinstance(sub, str):
            raise InvalidLogoutToken("sid or sub is required")
        self._remember(str(claims["jti"]), float(claims["exp"]))
        return LogoutEvent(
            sid=sid if isinstance(sid, str) else None,
            sub=sub if isinstance(sub, str) else None,
            issued_at=int(claims["iat"]),
        )

    async def _decode(self, raw: str) -> jwt.Token:
        if not raw or raw.count(".") != 2 or len(raw) > 8000:
            raise InvalidLogoutToken("not a compact JWT")
        try:
            keys = KeySet.import_key_set(await self.fetch_jwks(False))  # type: ignore[arg-type]
            try:
                return jwt.decode(raw, keys, algorithms=self.algorithms)
            except InvalidKeyIdError:
                now = self.clock()
                if now - self._last_refetch < REFETCH_INTERVAL:
                    raise
                self._last_refetch = now
                keys = KeySet.import_key_set(await self.fetch_jwks(True))  # type: ignore[arg-type]
                return jwt.decode(raw, keys, algorithms=self.algorithms)
        except (JoseError, ValueError) as exc:
            raise InvalidLogoutToken("signature or format not valid") from exc

    def _remember(self, jti: str, exp: float) -> None:
        """Refuse a ``jti`` seen before; forget it once the token could not pass anyway."""
        now = self.clock()
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        if jti in self._seen:
            raise InvalidLogoutToken("replayed logout token (jti seen before)")
        self._seen[jti] = exp + LEEWAY
