"""The pieces behind the e2e fixtures: a real ``identity serve`` process and the browser setup.

Kept out of ``conftest.py`` so test modules can import the constants and helpers they need.
Processes are started by ``tests/support/server.py``, as the benchmarks' are.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from identity.audit.refs import Actor
from identity.demo import DEMO_CLIENTS, RP, RP_OTHER_SITE
from identity.runtime import Runtime
from identity.settings import Settings
from tests.support.server import (
    ServerFailed,
    ServerProcess,
    identity_command,
    identity_environment,
    run_identity,
    start_on_free_port,
)

CHROMIUM = os.environ.get("IDENTITY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "e2e-secret-key-that-is-long-enough-0123456789abcdef"

# The browser's language preference (sent as Accept-Language) for each page language.
BROWSER_LOCALES = {"es": "es-ES", "en": "en-GB"}
DEVICES: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
        ),
    },
    "desktop": {
        "viewport": {"width": 1280, "height": 800},
        "user_agent": (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        ),
    },
}
# How the sessions list on the account page names the devices above.
DEVICE_LABELS = {"phone": "Chrome · Android", "desktop": "Chrome · Windows"}


# -- accessibility: axe-core in every page the journeys visit --------------------------------

ROOT = Path(__file__).resolve().parents[2]
NPM_CACHE = ROOT / ".cache" / "npm"  # git-ignored
AXE_PACKAGE = "axe-core@4"
AXE_FILE = NPM_CACHE / "node_modules" / "axe-core" / "axe.min.js"
AXE_MARK = "identity-axe:"  # a console message starting so is a page's violations (JSON)
AXE_IMPACTS = ("critical", "serious")  # what fails a journey; moderate and minor do not
# Runs in every top-level HTML document after it loads (an init script: before the page's own
# scripts, and whatever the page's Content-Security-Policy says), and reports the violations
# that fail a journey as a console message (fire and forget: a binding's round trip to Python
# in the middle of a navigation was seen to hang a journey). Frames are not entered: the
# development mailbox's are sandboxed mails, which run no script.
AXE_CHECK = "__identityAxeCheck"  # the page's check, also called once more at the end
AXE_DONE = "__identityAxeDone"  # set when that last check has reported
AXE_RUNNER = f"""
(() => {{
  if (window.top !== window || document.contentType !== "text/html") return;
  if (!location.protocol.startsWith("http")) return;  // about:blank before the first visit
  const report = (found) => console.info({AXE_MARK!r} + JSON.stringify([location.href, found]));
  const once = () => window.axe
    .run(document, {{ resultTypes: ["violations"], iframes: false }})
    .then((result) => report(result.violations
      .filter((v) => {list(AXE_IMPACTS)!r}.includes(v.impact))
      .map((v) => ({{ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }}))))
    .catch((error) => report([{{ id: "axe-error", impact: "critical", help: String(error),
      nodes: [] }}]));
  // One run at a time (axe refuses a second while one is going): later checks queue up.
  let queue = Promise.resolve();
  window.{AXE_CHECK} = () => (queue = queue.then(once));
  if (document.readyState === "complete") window.{AXE_CHECK}();
  else window.addEventListener("load", () => window.{AXE_CHECK}(), {{ once: true }});
}})();
"""


def axe_source() -> str:
    """axe-core's browser build, installed from npm into ``.cache/npm`` once: the first test
    process to get the lock installs it, the others (xdist workers) wait and read it."""
    if not AXE_FILE.is_file():
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        with (NPM_CACHE.parent / "npm.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not AXE_FILE.is_file():
                npm = shutil.which("npm")
                if npm is None:
                    raise ServerFailed("npm is needed for axe-core: apt-get install -y npm")
                command = [npm, "install", "--prefix", str(NPM_CACHE), "--no-audit", "--no-fund"]
                done = subprocess.run(
                    [*command, AXE_PACKAGE], capture_output=True, text=True, check=False
                )
                if done.returncode != 0 or not AXE_FILE.is_file():
                    raise ServerFailed(f"npm install {AXE_PACKAGE} failed:\n{done.stderr}")
    return AXE_FILE.read_text() + AXE_RUNNER


def describe_violations(found: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The violations, one per line: page, rule, impact, what it asks, where."""
    return "\n".join(
        f"{url}: {v['id']} ({v['impact']}) {v['help']} at {', '.join(v['nodes'])}"
        for (url, _), v in sorted(found.items())
    )


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Server:
    """``identity serve``: the provider."""

    process: ServerProcess
    settings: Settings  # the process's configuration, for in-process helpers
    values: dict[str, str]  # the same as IDENTITY_* variables, for other commands

    @property
    def url(self) -> str:
        return self.process.url


def _settings_values(database_url: str, var_dir: Path, port: int) -> dict[str, str]:
    return {
        "env": "development",  # the file mail backend and /dev/mail
        "var_dir": str(var_dir),
        "database_url": database_url,
        "issuer": f"http://127.0.0.1:{port}",
        "secret_key": SECRET,
        "argon2_time_cost": "1",
        "argon2_memory_cost": "1024",
        "argon2_parallelism": "1",
        # Journeys deliver back-channel logouts themselves (deliver_outbox), at the moment
        # they choose: a background worker would race the pages they look at.
        "outbox_worker": "false",
        # The demo's brand, as `make run` sets it: the journeys check pages with a logo.
        "brand_logo": "/static/brand/demo-shop.svg",
        "brand_color": "#0b6e4f",
    }


def deliver_outbox(server: Server) -> str:
    """Run ``identity outbox deliver`` against the server's database, as an operator would."""
    return run_identity(identity_environment(server.values), "outbox", "deliver")


def start_server(database_url: str, home: Path) -> Server:
    """Migrate the empty database, start ``identity serve`` on a free port, wait until ready.

    Raises :class:`ServerFailed` with the process output when any step fails."""
    values = _settings_values(database_url, home / "var", 0)
    run_identity(identity_environment(values), "db", "upgrade", cwd=home)

    def make(port: int) -> ServerProcess:
        values.update(_settings_values(database_url, home / "var", port))
        argv = identity_command("serve", "--host", "127.0.0.1", "--port", str(port))
        env = identity_environment(values)
        return ServerProcess(argv, url=values["issuer"], env=env, cwd=home, health_path="/readyz")

    process = start_on_free_port(make)
    return Server(process, Settings(**values), values)  # type: ignore[arg-type]


# -- the demo relying party ---------------------------------------------------------------

CHANNELS = ("store", "app", "marketplace")


@dataclass
class DemoRp:
    """``identity demo rp`` on a free port: the store and the app on ``127.0.0.1``, the
    marketplace on ``localhost`` (another site to the browser: its own cookies)."""

    process: ServerProcess
    port: int
    client_ids: dict[str, str]  # channel -> the client id registered for it

    def home(self, channel: str) -> str:
        host = "localhost" if channel == "marketplace" else "127.0.0.1"
        return f"http://{host}:{self.port}/{channel}/"


def channel_specs(port: int, suffix: str = "") -> list[dict[str, Any]]:
    """The demo's three channels as ``identity demo seed`` registers them
    (``identity.demo.DEMO_CLIENTS``), with the demo's port rewritten to ``port`` and
    ``suffix`` added to the client ids."""
    specs = []
    for spec in DEMO_CLIENTS:
        if spec["client_id"] not in CHANNELS:
            continue
        text = json.dumps(spec)
        text = text.replace(RP, f"http://127.0.0.1:{port}")
        text = text.replace(RP_OTHER_SITE, f"http://localhost:{port}")
        if ":8001" in text:
            raise AssertionError(f"a demo URI the tests do not rewrite: {text}")
        rewritten = json.loads(text)
        rewritten["client_id"] += suffix
        specs.append(rewritten)
    return specs


def register_channels(runtime: Runtime, port: int, suffix: str, path: Path) -> dict[str, str]:
    """Register the channels for ``port`` and write their credentials to ``path`` in the format
    of ``demo-clients.json``; returns each channel's client id."""
    saved: dict[str, dict[str, str | None]] = {}
    for spec in channel_specs(port, suffix):
        created = runtime.clients.create(actor=Actor.operator("e2e"), **spec)
        channel = spec["client_id"].removesuffix(suffix)
        saved[channel] = {"client_id": spec["client_id"], "client_secret": created.client_secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return {channel: str(entry["client_id"]) for channel, entry in saved.items()}


def start_demo_rp(server: Server, runtime: Runtime, home: Path) -> DemoRp:
    """Register the three channels on the provider (in-process, on its database) for a free
    port, then start ``identity demo rp`` there, as an operator would after
    ``identity demo seed``; wait until it serves both host names.

    Raises :class:`ServerFailed` with the process output when it does not start."""
    credentials = server.settings.var_dir / "demo-clients.json"  # where `demo rp` looks
    client_ids: dict[int, dict[str, str]] = {}

    def make(port: int) -> ServerProcess:
        # Clients are registered for one port; another port needs clients of its own.
        suffix = f"-{port}" if client_ids else ""
        client_ids[port] = register_channels(runtime, port, suffix, credentials)
        argv = identity_command("demo", "rp", "--host", "127.0.0.1", "--port", str(port))
        env = identity_environment(server.values)
        url = f"http://127.0.0.1:{port}"
        return ServerProcess(argv, url=url, env=env, cwd=home, health_path="/store/")

    process = start_on_free_port(make)
    port = int(process.url.rpartition(":")[2])
    rp = DemoRp(process, port, client_ids[port])
    for channel in CHANNELS:  # both host names answer, and the pages render
        try:
            status: object = httpx.get(rp.home(channel), timeout=10).status_code
        except httpx.HTTPError as exc:
            status = repr(exc)
        if status != 200:
            process.stop()
            raise ServerFailed(f"{rp.home(channel)}: {status}\n{process.log_tail()}")
    return rp
