"""The demo relying party: the retailer's three channels as OpenID Connect clients.

``identity demo rp`` serves it at http://127.0.0.1:8001 next to the provider. Each channel is
its own client of the provider, built with Authlib's Starlette client, and shows what a
relying party sees:

* ``/store/``: the web store, a confidential first-party web client (client secret + PKCE).
* ``/app/``: the shop app, a public native client (no secret: PKCE alone binds the code).
* ``/marketplace/``: a third party on *another site* (``localhost`` instead of
  ``127.0.0.1``, so the browser keeps separate cookies, as for another company). It gets a
  consent screen the first time, ``offline_access``, and a pairwise ``sub``.

Sign in at one channel and the others get in without a password (single sign-on, the
provider's session cookie). "Sign out everywhere" is RP-initiated logout; the provider then
tells every channel of that session over the back channel, and each shows it.

Every channel has its own Starlette sub-application with its own ``SessionMiddleware`` cookie
(name and path per channel), so store and app, which share a host, stay independent. That
cookie holds only a random handle: tokens stay in this process (the "backend for frontend"
pattern), in memory, because this is a demo. Its POST buttons rely on the cookie being
``SameSite=Lax`` (a cross-site POST arrives without it) instead of CSRF tokens.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from identity.demo_rp.backchannel import InvalidLogoutToken, LogoutTokenVerifier
from identity.demo_rp.banner import StoreBanner
from identity.demo_rp.texts import UI, language, note_text, remember

HERE = Path(__file__).resolve().parent

BACKCHANNEL_NOTE = UI["en"]["notes"]["backchannel"]
SESSION_MAX_AGE = 8 * 3600


class CredentialsMissing(Exception):
    """The client credentials file is missing or incomplete."""


@dataclass(frozen=True)
class Channel:
    key: str  # path prefix and the Authlib client's name
    title: str
    summary: str
    scope: str
    public_url: str  # scheme://host:port the channel is served on (its redirect URIs' origin)
    client_id: str
    client_secret: str | None

    @property
    def home(self) -> str:
        return f"{self.public_url}/{self.key}/"


@dataclass
class Login:
    """What a channel keeps after signing someone in (never sent to the browser)."""

    token: dict[str, Any]  # the token response: access, refresh and ID token, expires_at
    claims: dict[str, Any]  # the ID token's claims, verified by Authlib
    signed_in_at: float = field(default_factory=time.time)


def load_credentials(path: Path) -> dict[str, dict[str, Any]]:
    """``demo-clients.json`` as written by ``identity demo seed``."""
    hint = "run `identity demo seed` first"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CredentialsMissing(f"{path} not found: {hint}") from None
    except ValueError as exc:
        raise CredentialsMissing(f"{path} is not valid JSON ({exc}): {hint}") from None
    for key in ("store", "app", "marketplace"):
        entry = data.get(key) if isinstance(data, dict) else None
        if not isinstance(entry, dict) or not entry.get("client_id"):
            raise CredentialsMissing(f"{path} has no client {key!r}: {hint}")
        if key != "app" and not entry.get("client_secret"):
            raise CredentialsMissing(f"{path} has no secret for {key!r}: {hint}")
    return data


def _time(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float):
        return "–"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S UTC")


class ChannelSite:
    """One channel: its OAuth client, its pages, and its back-channel logout receiver."""

    def __init__(
        self,
        channel: Channel,
        *,
        oauth: OAuth,
        issuer: str,
        secret_key: str,
        templates: Jinja2Templates,
        banner: StoreBanner | None = None,
    ) -> None:
        self.channel = channel
        self.banner = banner
        self.issuer = issuer
        self.templates = templates
        self.client: StarletteOAuth2App = oauth.register(
            name=channel.key,
            client_id=channel.client_id,
            client_secret=channel.client_secret,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": channel.scope,
                "code_challenge_method": "S256",  # the provider refuses requests without PKCE
                "token_endpoint_auth_method": (
                    "client_secret_basic" if channel.client_secret else "none"
                ),
            },
        )
        self.verifier = LogoutTokenVerifier(
            issuer=issuer,
            client_id=channel.client_id,
            algorithms=["RS256", "ES256"],
            fetch_jwks=lambda force: self.client.fetch_jwk_set(force=force),
        )
        self.logins: dict[str, Login] = {}
        self.ended_sids: set[str] = set()  # sessions the provider said have ended
        self.ended_subs: dict[str, float] = {}  # sub -> when all their sessions ended
        routes = [
            Route("/", self.page),
            Route("/login", self.sign_in),
            Route("/callback", self.callback),
            Route("/refresh", self.refresh, methods=["POST"]),
            Route("/logout", self.sign_out, methods=["POST"]),
            Route("/backchannel-logout", self.backchannel_logout, methods=["POST"]),
        ]
        if banner is not None:
            routes.append(Route("/privacy", self.choose_privacy, methods=["POST"]))
        self.asgi: ASGIApp = SessionMiddleware(
            Starlette(routes=routes, exception_handlers={Exception: self.failed}),
            secret_key=f"{secret_key}/{channel.key}",
            session_cookie=f"demo_rp_{channel.key}",
            path=f"/{channel.key}",
            max_age=SESSION_MAX_AGE,
            same_site="lax",
            https_only=channel.public_url.startswith("https:"),
        )

    # -- the signed-in state --------------------------------------------------------------

    def current(self, request: Request) -> tuple[Login | None, str | None]:
        """This browser's login at this channel, and a note when it just ended."""
        handle = request.session.get("handle")
        login = self.logins.get(handle) if isinstance(handle, str) else None
        if login is None:
            request.session.pop("handle", None)
            return None, None
        sid, sub = login.claims.get("sid"), login.claims.get("sub")
        ended_at = self.ended_subs.get(sub) if isinstance(sub, str) else None
        if sid in self.ended_sids or (ended_at is not None and ended_at >= login.signed_in_at):
            self.forget(request)
            return None, "backchannel"
        return login, None

    def forget(self, request: Request) -> Login | None:
        handle = request.session.pop("handle", None)
        return self.logins.pop(handle, None) if isinstance(handle, str) else None

    def note(self, request: Request, kind: str, key: str, **params: str) -> None:
        """A note for the next page, kept as a key of ``texts.UI`` (shown in its language)."""
        request.session["note"] = {"kind": kind, "key": key, "params": params}

    def home(self) -> RedirectResponse:
        return RedirectResponse(self.channel.home, status_code=303)

    def elsewhere(self, request: Request) -> Response | None:
        """A redirect to the channel's own host name when asked on another one: its cookies
        and registered redirect URIs belong to that host (the marketplace is ``localhost``)."""
        if request.url.netloc == urlsplit(self.channel.public_url).netloc:
            return None
        return RedirectResponse(f"{self.channel.public_url}{request.url.path}", status_code=307)

    # -- pages ----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """The channel's page: signed in or not, the ID token's claims, userinfo."""
        if moved := self.elsewhere(request):
            return moved
        if "state" in request.query_params:
            return await self.logout_returned(request)
        login, ended = self.current(request)
        notes = [request.session.pop("note")] if "note" in request.session else []
        if ended:
            notes.append({"kind": "warn", "key": ended})
        userinfo = await self.userinfo(login) if login else None
        if userinfo is not None and userinfo["status"] == 401:
            # The provider no longer honours this sign-in (access removed, grant revoked).
            self.forget(request)
            notes.append({"kind": "warn", "key": "no_longer"})
            login, userinfo = None, None
        claims = login.claims if login else {}
        token = login.token if login else {}
        privacy = await self.banner.privacy(request, claims.get("sub")) if self.banner else None
        lang = language(request)
        response = self.templates.TemplateResponse(
            request,
            "channel.html",
            {
                "channel": self.channel,
                "login": login,
                "notes": [{"kind": n.get("kind"), "text": note_text(lang, n)} for n in notes],
                "claims": [
                    ("sub", claims.get("sub")),
                    ("sid", claims.get("sid")),
                    ("auth_time", f"{claims.get('auth_time')} ({_time(claims.get('auth_time'))})"),
                    ("amr", " ".join(claims.get("amr") or [])),
                    ("acr", claims.get("acr")),
                    ("aud", " ".join(aud) if isinstance(aud := claims.get("aud"), list) else aud),
                ],
                "userinfo": userinfo,
                "expires_at": _time(token.get("expires_at")),
                "has_refresh_token": bool(token.get("refresh_token")),
                "granted_scope": token.get("scope", ""),
                "privacy": privacy,
            },
        )
        remember(request, response, lang)
        return response

    async def choose_privacy(self, request: Request) -> Response:
        """The cookie banner's answer, written through the consent API by this backend."""
        assert self.banner is not None
        _, cookies = await self.banner.choose(request, self.channel.home)
        response = self.home()
        self.banner.set_cookies(response, cookies, f"/{self.channel.key}")
        return response

    async def userinfo(self, login: Login) -> dict[str, Any]:
        """Ask the provider's userinfo endpoint with the access token (OIDC Core §5.3)."""
        metadata = await self.client.load_server_metadata()
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                response = await http.get(
                    metadata["userinfo_endpoint"],
                    headers={"Authorization": f"Bearer {login.token['access_token']}"},
                )
            body: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            return {"ok": False, "status": None, "body": {}, "json": error}
        shown = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)
        # Not 200: e.g. 401 invalid_token, the grant was revoked when the session ended.
        return {"ok": response.status_code == 200, "status": response.status_code,
                "body": body, "json": shown}  # fmt: skip

    async def failed(self, request: Request, exc: Exception) -> Response:
        """Most likely the provider is not running (yet): say so instead of a bare 500."""
        return self.templates.TemplateResponse(
            request,
            "error.html",
            {"channel": self.channel, "error": f"{type(exc).__name__}: {exc}"},
            status_code=500,
        )

    # -- sign in: authorization code + PKCE -------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        """Redirect to the provider; Authlib keeps state, nonce and the PKCE verifier in the
        session cookie until the browser comes back."""
        if moved := self.elsewhere(request):
            return moved
        redirect_uri = f"{self.channel.home}callback"
        visitor = self.banner.visitor(request) if self.banner else None
        extra = {"anon_id": visitor} if visitor else {}  # linked to the account at redemption
        extra["ui_locales"] = language(request)  # the provider's pages in the channel's language
        response: Response = await self.client.authorize_redirect(request, redirect_uri, **extra)
        return response

    async def callback(self, request: Request) -> Response:
        """The redirect URI: check the response, exchange the code, verify the ID token."""
        params = request.query_params
        if "error" in params:
            if params["error"] == "access_denied":
                self.note(request, "error", "denied", channel=self.channel.key)
            else:
                self.note(request, "error", "incomplete", error=params["error"][:100])
            return self.home()
        metadata = await self.client.load_server_metadata()
        # RFC 9207: the response names its issuer, so a mix-up with another provider shows.
        if params.get("iss") != metadata["issuer"]:
            self.note(request, "error", "wrong_iss")
            return self.home()
        try:
            token = dict(await self.client.authorize_access_token(request))
        except (OAuthError, JoseError) as exc:
            self.note(request, "error", "failed", error=str(exc))
            return self.home()
        claims = token.pop("userinfo", None)  # Authlib's name for the verified ID token claims
        if not claims:
            self.note(request, "error", "no_id_token")
            return self.home()
        self.forget(request)
        handle = secrets.token_urlsafe(24)
        self.logins[handle] = Login(token=token, claims=dict(claims))
        request.session["handle"] = handle
        return self.home()

    # -- refresh --------------------------------------------------------------------------

    async def refresh(self, request: Request) -> Response:
        """The refresh-token grant: new tokens, the refresh token rotated by the provider."""
        login, _ = self.current(request)
        if login is None or not login.token.get("refresh_token"):
            self.note(request, "error", "no_refresh")
            return self.home()
        try:
            fresh = dict(
                await self.client.fetch_access_token(
                    grant_type="refresh_token", refresh_token=login.token["refresh_token"]
                )
            )
            if "id_token" in fresh:  # a new ID token for the same user (OIDC Core §12.2)
                claims = dict(await self.client.parse_id_token(fresh, nonce=None))
                if claims.get("sub") != login.claims.get("sub"):
                    raise OAuthError(description="the refreshed ID token names another user")
                login.claims = claims
        except (OAuthError, JoseError) as exc:
            self.forget(request)
            reason = getattr(exc, "description", "") or getattr(exc, "error", "") or str(exc)
            self.note(request, "error", "refresh_refused", error=str(reason))
            return self.home()
        login.token = {**login.token, **fresh}
        self.note(request, "ok", "refreshed", time=_time(fresh.get("expires_at")))
        return self.home()

    # -- sign out: RP-initiated logout ----------------------------------------------------

    async def sign_out(self, request: Request) -> Response:
        """Forget the login here, then let the provider end its session (and so every
        channel's): the ``id_token_hint`` lets it skip the "really sign out?" question."""
        login = self.forget(request)
        response: Response = await self.client.logout_redirect(
            request,
            post_logout_redirect_uri=self.channel.home,
            id_token_hint=login.token.get("id_token") if login else None,
            client_id=self.channel.client_id,
        )
        return response

    async def logout_returned(self, request: Request) -> Response:
        """The provider came back to the post-logout redirect URI; ``state`` must be ours."""
        try:
            await self.client.validate_logout_response(request)
        except OAuthError:
            self.note(request, "error", "bad_state")
            return self.home()
        self.forget(request)
        self.note(request, "ok", "signed_out")
        return self.home()

    # -- back-channel logout receiver -----------------------------------------------------

    async def backchannel_logout(self, request: Request) -> Response:
        """The provider's server-to-server logout call (Back-Channel Logout 1.0 §2.5, §2.8)."""
        form = await request.form()
        raw = form.get("logout_token")
        headers = {"Cache-Control": "no-store"}
        try:
            event = await self.verifier.verify(raw if isinstance(raw, str) else "")
        except InvalidLogoutToken as exc:
            body = {"error": "invalid_request", "error_description": str(exc)}
            return JSONResponse(body, status_code=400, headers=headers)
        if event.sid:
            self.ended_sids.add(event.sid)
        elif event.sub:
            self.ended_subs[event.sub] = time.time()
        return Response(status_code=200, headers=headers)
