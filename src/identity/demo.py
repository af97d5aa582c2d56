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

from identity.runtime import Runtime

DEMO_PASSWORD = "demo-password-1"  # documented in the README; development databases only
RP = "http://127.0.0.1:8001"
RP_OTHER_SITE = "http://localhost:8001"  # another host: its own cookies, like another company

DEMO_USERS = (
    ("ana@example.com", "Ana García", "es"),
    ("ben@example.com", "Ben Taylor", "en"),
)

DEMO_CLIENTS: tuple[dict[str, Any], ...] = (
    {
        "client_id": "store",
        "name": "Web store",
        "redirect_uris": [f"{RP}/store/callback"],
        "post_logout_redirect_uris": [f"{RP}/store/"],
        "backchannel_logout_uri": f"{RP}/store/backchannel-logout",
        "first_party": True,
    },
    {
        "client_id": "app",
        "name": "Shop app",
        "auth_method": "none",
        "redirect_uris": [f"{RP}/app/callback"],
        "post_logout_redirect_uris": [f"{RP}/app/"],
        "backchannel_logout_uri": f"{RP}/app/backchannel-logout",
        "first_party": True,
    },
    {
        "client_id": "marketplace",
        "name": "Marketplace",
        "redirect_uris": [f"{RP_OTHER_SITE}/marketplace/callback"],
        "post_logout_redirect_uris": [f"{RP_OTHER_SITE}/marketplace/"],
        "backchannel_logout_uri": f"{RP_OTHER_SITE}/marketplace/backchannel-logout",
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
        "scope": "consent:read",
    },
)


def credentials_path(runtime: Runtime) -> Path:
    return runtime.settings.var_dir / "demo-clients.json"


def seed(runtime: Runtime) -> Iterator[str]:
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
            actor="operator:demo-seed",
        )
        yield f"user {email}: created (password {DEMO_PASSWORD})"
    yield from _seed_clients(runtime)


def _seed_clients(runtime: Runtime) -> Iterator[str]:
    path = credentials_path(runtime)
    saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for spec in DEMO_CLIENTS:
        client_id = spec["client_id"]
        confidential = spec.get("auth_method", "client_secret_basic") != "none"
        existing = runtime.clients.get(client_id)
        if existing is None:
            created = runtime.clients.create(actor="operator:demo-seed", **spec)
            secret = created.client_secret
            yield f"client {client_id}: created"
        elif confidential and not saved.get(client_id, {}).get("client_secret"):
            secret = runtime.clients.reset_secret(client_id, actor="operator:demo-seed")
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
