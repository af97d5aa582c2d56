"""A real upstream OpenID provider for the tests: node-oidc-provider (npm ``oidc-provider@9``)
on a free port, configured by ``tests/support/upstream/provider.mjs``.

The package is installed once per checkout into ``.cache/npm`` (git-ignored), under a file
lock so that xdist workers starting together install it once. Node resolves an ES module's
imports next to the module, so the configuration is copied beside ``node_modules`` first.

:func:`sign_in_upstream` plays the shopper's browser at the upstream: it follows the
authorization URL to the provider's login form, submits it, and returns the redirect back to
us (the URL our callback receives), over real HTTP.
"""

from __future__ import annotations

import fcntl
import html.parser
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.support.server import ServerProcess, start_on_free_port

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / ".cache" / "npm"
PACKAGE = "oidc-provider@9"
CONFIG = Path(__file__).resolve().parent / "upstream" / "provider.mjs"
CLIENT_ID = "identity-tests"
CLIENT_SECRET = "upstream-client-secret-0123456789abcdef"

# The upstream's accounts, by the login typed into its form (which is also their sub).
# "mallory" is an attacker's own account, whose upstream asserts a victim's address as verified.
VICTIM_EMAIL = "victim@shop.example"
ACCOUNTS: dict[str, dict[str, object]] = {
    "ana": {"email": "ana@upstream.example", "email_verified": True,
            "name": "Ana Upstream"},
    "bea": {"email": "bea@upstream.example", "email_verified": True,
            "name": "Bea Upstream"},
    "mallory": {"email": VICTIM_EMAIL, "email_verified": True,
                "name": "Mallory"},
    "unverified": {"email": "uv@upstream.example",
                   "email_verified": False, "name": "Uma Unverified"},
    "noemail": {"email": None, "email_verified": False, "name": "Nadia"},
}  # fmt: skip


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def installed_provider() -> Path:
    """``.cache/npm`` with oidc-provider installed and the configuration beside it."""
    with _locked(NPM_DIR.parent / "npm.lock"):
        if not (NPM_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is needed for the upstream tests (apt-get install npm)")
            subprocess.run(
                [npm, "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", PACKAGE],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
        target = NPM_DIR / CONFIG.name
        if not target.exists() or target.read_bytes() != CONFIG.read_bytes():
            shutil.copyfile(CONFIG, target)
    return target


@dataclass
class UpstreamPeer:
    process: ServerProcess
    port: int
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    accounts: Mapping[str, Mapping[str, object]] = field(default_factory=lambda: ACCOUNTS)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provider_entry(self, name: str = "Peer ID") -> dict[str, object]:
        """This upstream as an entry of the providers file."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "display_name": name,
            "scopes": ["openid", "email", "profile"],
        }

    def stop(self) -> None:
        self.process.stop()


def start_upstream(redirect_uris: list[str], cwd: Path) -> UpstreamPeer:
    script = installed_provider()

    def make(port: int) -> ServerProcess:
        env = {
            **os.environ,
            "UPSTREAM_PORT": str(port),
            "UPSTREAM_CLIENT": json.dumps(
                {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                 "redirect_uris": redirect_uris}
            ),
            "UPSTREAM_ACCOUNTS": json.dumps(ACCOUNTS),
        }  # fmt: skip
        return ServerProcess(
            ["node", str(script)],
            url=f"http://127.0.0.1:{port}",
            env=env,
            cwd=cwd,
            ready_line="upstream listening on",
            health_path="/.well-known/openid-configuration",
        )

    process = start_on_free_port(make)
    return UpstreamPeer(process, int(process.url.rpartition(":")[2]))


class _Form(html.parser.HTMLParser):
    """The page's first form: its action and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = values.get("action") or ""
        elif tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.hidden[str(values["name"])] = values.get("value") or ""


def sign_in_upstream(authorization_url: str, login: str, *, stop_at: str) -> str:
    """The shopper at the upstream: open ``authorization_url``, sign in as ``login``, and
    return the first redirect to a URL starting with ``stop_at`` (our callback)."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        url = authorization_url
        for _ in range(12):
            if url.startswith(stop_at):
                return url
            answer = browser.get(url)
            while not answer.is_redirect:
                form = _Form()
                form.feed(answer.text)
                if form.action is None:
                    raise AssertionError(f"no form at {url}: {answer.text[:300]}")
                fields = {**form.hidden, "login": login, "password": "anything"}
                answer = browser.post(urljoin(url, form.action), data=fields)
            url = urljoin(url, answer.headers["location"])
        raise AssertionError("too many redirects at the upstream")
