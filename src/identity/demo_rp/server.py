"""The demo relying party as one ASGI app (its three channels) and its ``uvicorn`` runner."""

from __future__ import annotations

import secrets
from pathlib import Path

from authlib.integrations.starlette_client import OAuth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from identity.demo_rp.app import HERE, Channel, ChannelSite, load_credentials
from identity.demo_rp.banner import ConsentBackend, StoreBanner
from identity.demo_rp.texts import language, page_language, remember
from identity.web.middleware import EdgeMiddleware


def create_demo_rp(
    issuer: str,
    credentials_path: Path,
    *,
    public_url_store: str = "http://127.0.0.1:8001",
    public_url_marketplace: str = "http://localhost:8001",
    secret_key: str | None = None,
) -> Starlette:
    """The demo relying party as an ASGI app; reads the client credentials now and raises
    :class:`CredentialsMissing` when ``identity demo seed`` has not written them."""
    issuer = issuer.rstrip("/")
    credentials = load_credentials(credentials_path)
    secret_key = secret_key or secrets.token_urlsafe(32)
    specs = (
        ("store", "Web store", "A confidential web client of the retailer: secret + PKCE.",
         "openid profile email", public_url_store),
        ("app", "Shop app", "A public native client of the retailer: no secret, PKCE only.",
         "openid profile email", public_url_store),
        ("marketplace", "Marketplace",
         "A third party on another site: consent, offline access and a pairwise sub.",
         "openid profile email offline_access", public_url_marketplace),
    )  # fmt: skip
    channels = [
        Channel(
            key=key,
            title=title,
            summary=summary,
            scope=scope,
            public_url=url.rstrip("/"),
            client_id=credentials[key]["client_id"],
            client_secret=credentials[key].get("client_secret"),
        )
        for key, title, summary, scope, url in specs
    ]
    templates = Jinja2Templates(
        directory=HERE / "templates",
        context_processors=[
            lambda request: {"channels": channels, "issuer": issuer, **page_language(request)}
        ],
    )
    sites = _sites(channels, issuer, secret_key, templates)

    async def index(request: Request) -> Response:
        response = templates.TemplateResponse(request, "index.html", {"channel": None})
        remember(request, response, language(request))
        return response

    app = Starlette(
        routes=[
            Route("/", index),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            *(Mount(f"/{site.channel.key}", app=site.asgi) for site in sites),
        ]
    )
    # The provider's own headers: a strict CSP (no inline script or style), nosniff, no-store.
    app.add_middleware(EdgeMiddleware, https=public_url_store.startswith("https:"))
    return app


def _sites(
    channels: list[Channel], issuer: str, secret_key: str, templates: Jinja2Templates
) -> list[ChannelSite]:
    """One site per channel; the web store also has the cookie banner."""
    oauth = OAuth()
    store = channels[0]
    banner = StoreBanner(
        ConsentBackend(issuer, store.client_id, store.client_secret or ""),
        secure=store.public_url.startswith("https:"),
    )
    return [
        ChannelSite(
            c,
            oauth=oauth,
            issuer=issuer,
            secret_key=secret_key,
            templates=templates,
            banner=banner if c is store else None,
        )
        for c in channels
    ]


def serve(host: str, port: int, issuer: str, credentials_path: Path) -> None:
    """Run the demo relying party with uvicorn (blocks), its channels on ``host`` and the
    marketplace on the other loopback name (see :func:`identity.demo.other_site`)."""
    import uvicorn

    from identity.demo import other_site

    public = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    store = f"http://{public}:{port}"
    app = create_demo_rp(
        issuer, credentials_path, public_url_store=store, public_url_marketplace=other_site(store)
    )
    # No access log: callback URLs carry authorization codes.
    uvicorn.run(app, host=host, port=port, proxy_headers=False, access_log=False)
