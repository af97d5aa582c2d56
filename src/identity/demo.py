"""Demo data for ``make run``: shoppers to sign in with, and the retailer's channels as clients.

Idempotent. The channels' client secrets are written to ``var/demo-clients.json`` (mode 0600)
for the demo relying party (``identity demo rp``); a client whose secret is not in that file
gets a new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from identity.audit.refs import Actor
from identity.runtime import Runtime

DEMO_PASSWORD = "demo-password-1"  # documented in the README; development databases only
DEFAULT_RP_URL = "http://127.0.0.1:8001"

DEMO_USERS = (
    ("ana@example.com", "Ana García", "es"),
    ("ben@example.com", "Ben Taylor", "en"),
)


def other_site(rp_url: str) -> str:
    """The marketplace's origin: the demo RP's port on the other loopback name (``localhost``
    for ``127.0.0.1`` and back), another site to the browser, with cookies of its own, as
    another company would be."""
    parts = urlsplit(rp_url)
    host = "localhost" if parts.hostname != "localhost" else "127.0.0.1"
    return f"{parts.scheme}://{host}:{parts.port or 80}"


def demo_clients(rp_url: str = DEFAULT_RP_URL) -> tuple[dict[str, Any], ...]:
    """The retailer's channels as clients, with redirect URIs on the demo RP at ``rp_url``."""
    rp = rp_url.rstrip("/")
    market = other_site(rp)
    return (
        {
            "client_id": "store",
            "name": "Web store",
            "redirect_uris": [f"{rp}/store/callback"],
            "post_logout_redirect_uris": [f"{rp}/store/"],
            "backchannel_logout_uri": f"{rp}/store/backchannel-logout",
            "client_uri": f"{rp}/store/",
            "first_party": True,
            # Its backend keeps visitors' cookie-banner choices (anonymous ids).
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "openid profile email preferences consent:read consent:write anonymous:issue",
        },
        {
            "client_id": "app",
            "name": "Shop app",
            "auth_method": "none",
            "redirect_uris": [f"{rp}/app/callback"],
            "post_logout_redirect_uris": [f"{rp}/app/"],
            "backchannel_logout_uri": f"{rp}/app/backchannel-logout",
            "client_uri": f"{rp}/app/",
            "first_party": True,
        },
        {
            "client_id": "marketplace",
            "name": "Marketplace",
            "redirect_uris": [f"{market}/marketplace/callback"],
            "post_logout_redirect_uris": [f"{market}/marketplace/"],
            "backchannel_logout_uri": f"{market}/marketplace/backchannel-logout",
            "client_uri": f"{market}/marketplace/",
            "policy_uri": f"{market}/marketplace/privacy-policy",
            "subject_type": "pairwise",
            "scope": "openid profile email offline_access",
        },
        {
            "client_id": "email-service",
            "name": "Email sender",
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "scope": "consent:read",
        },
        {
            "client_id": "recommender",
            "name": "Recommender",
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "scope": "consent:read identity:resolve",
            "resolve_purpose": "personalization",
        },
    )


# The default layout, for tests that rewrite it to their own ports.
RP = DEFAULT_RP_URL
RP_OTHER_SITE = other_site(RP)
DEMO_CLIENTS = demo_clients(RP)


def credentials_path(runtime: Runtime) -> Path:
    return runtime.settings.var_dir / "demo-clients.json"


def seed(runtime: Runtime, rp_url: str = DEFAULT_RP_URL) -> Iterator[str]:
    for email, name, locale in DEMO_USERS:
        if runtime.accounts.find_by_email(email) is not None:
            yield f"user {email}: already there"
            continue
        runtime.accounts.create(
            email=email,
            password=DEMO_PASSWORD,
            name=name,
            locale=locale,
            verified=True,
            actor=Actor.operator("demo-seed"),
        )
        yield f"user {email}: created (password {DEMO_PASSWORD})"
    yield from seed_clients(runtime, rp_url)


def seed_clients(runtime: Runtime, rp_url: str = DEFAULT_RP_URL) -> Iterator[str]:
    """Register the channels for the demo RP at ``rp_url`` (idempotent): a channel registered
    for another address has its URIs moved to this one."""
    path = credentials_path(runtime)
    saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for spec in demo_clients(rp_url):
        client_id = spec["client_id"]
        confidential = spec.get("auth_method", "client_secret_basic") != "none"
        existing = runtime.clients.get(client_id)
        if existing is not None and existing.redirect_uris != tuple(spec["redirect_uris"]):
            runtime.clients.move_uris(
                client_id,
                redirect_uris=spec["redirect_uris"],
                post_logout_redirect_uris=spec.get("post_logout_redirect_uris", []),
                backchannel_logout_uri=spec.get("backchannel_logout_uri"),
                actor=Actor.operator("demo-seed"),
            )
            yield f"client {client_id}: moved to {rp_url}"
        if existing is None:
            created = runtime.clients.create(actor=Actor.operator("demo-seed"), **spec)
            secret = created.client_secret
            yield f"client {client_id}: created"
        elif confidential and not saved.get(client_id, {}).get("client_secret"):
            secret = runtime.clients.reset_secret(client_id, actor=Actor.operator("demo-seed"))
            yield f"client {client_id}: new secret"
        else:
            secret = saved.get(client_id, {}).get("client_secret")
            yield f"client {client_id}: already there"
        saved[client_id] = {"client_id": client_id, "client_secret": secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved, indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    yield f"client credentials for the demo relying party: {path}"
