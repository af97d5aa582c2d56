"""External sign-in against a real upstream (node-oidc-provider, one per test process) and
our app in the test client; the shopper's browser at the upstream is httpx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from identity.settings import Settings
from tests.support.forms import csrf_token
from tests.support.upstream_peer import UpstreamPeer, sign_in_upstream, start_upstream

CALLBACK = "http://testserver/login/upstream/peer/callback"


@pytest.fixture(scope="session")
def upstream_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamPeer]:
    peer = start_upstream([CALLBACK], tmp_path_factory.mktemp("upstream"))
    yield peer
    peer.stop()


def providers_file(path: Path, peer: UpstreamPeer, **entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"providers": {"peer": peer.provider_entry(), **entries}}))
    return path


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], upstream_peer: UpstreamPeer, tmp_path: Path
) -> Settings:
    return make_settings(upstream_file=providers_file(tmp_path / "upstream.json", upstream_peer))


def start(client: Any, next_url: str = "/account", page: str = "/login") -> Any:
    """Press "Continue with Peer ID" on ``page``: our redirect to the upstream."""
    token = csrf_token(client, page)
    return client.post("/login/upstream/peer/start", data={"csrf_token": token, "next": next_url})


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def through_upstream(client: Any, login: str, next_url: str = "/account") -> Any:
    """The whole round trip: start here, sign in at the upstream as ``login``, come back;
    returns our callback's response."""
    started = start(client, next_url)
    assert started.status_code == 303, started.text
    back = sign_in_upstream(started.headers["location"], login, stop_at=CALLBACK)
    return client.get(local(back))


@pytest.fixture
def upstream_round_trip() -> Callable[..., Any]:
    return through_upstream
