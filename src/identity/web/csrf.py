"""CSRF protection for every HTML form: signed double-submit cookie plus a same-origin check.

The browser gets a random value in a cookie (``__Host-`` prefixed and ``Secure`` under https,
``SameSite=Strict``, ``HttpOnly``); each form carries an HMAC of that value (an itsdangerous
signature under a key derived for this purpose only). A cross-site attacker can neither read the
cookie nor forge the signature. As a second, independent layer a request whose ``Origin`` or
``Sec-Fetch-Site`` says it came from another site is refused outright.
"""

from __future__ import annotations

from itsdangerous import Signer
from starlette.requests import Request
from starlette.responses import Response

from identity.crypto import derive_key, equals, new_token

FIELD = "csrf_token"


class CsrfError(Exception):
    """The form did not come from one of our pages (or the page is too old)."""


class Csrf:
    def __init__(self, secret: bytes, *, secure: bool, origin: str) -> None:
        self._signer = Signer(derive_key(secret, "identity.csrf"), salt="csrf")
        self.cookie_name = "__Host-identity_csrf" if secure else "identity_csrf"
        self._secure = secure
        self._origin = origin

    def _sign(self, value: str) -> str:
        return self._signer.get_signature(value).decode()

    def token(self, request: Request) -> str:
        """The token to embed in a form; creates the cookie value on first use."""
        value = request.cookies.get(self.cookie_name)
        if not value or len(value) > 100:
            value = getattr(request.state, "new_csrf_cookie", None) or new_token()
            request.state.new_csrf_cookie = value
        return self._sign(value)

    def attach(self, request: Request, response: Response) -> None:
        value = getattr(request.state, "new_csrf_cookie", None)
        if value:
            response.set_cookie(
                self.cookie_name,
                value,
                httponly=True,
                secure=self._secure,
                samesite="strict",
                path="/",
            )

    def check(self, request: Request, submitted: object) -> None:
        """Raise :class:`CsrfError` unless the request is a same-origin form with a valid token."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin.rstrip("/") != self._origin:
            raise CsrfError("cross-origin form post")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise CsrfError("cross-site form post")
        cookie = request.cookies.get(self.cookie_name)
        if not cookie or not isinstance(submitted, str) or not submitted:
            raise CsrfError("missing token")
        if not equals(self._sign(cookie), submitted):
            raise CsrfError("token mismatch")
