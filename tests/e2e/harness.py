"""The pieces behind the e2e fixtures: a real ``identity serve`` process and the browser setup.

Kept out of ``conftest.py`` so test modules can import the constants and helpers they need.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from identity.demo import DEMO_CLIENTS, RP, RP_OTHER_SITE
from identity.runtime import Runtime
from identity.settings import Settings

IDENTITY = Path(sys.executable).parent / "identity"  # the venv's console script
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
# uvicorn logs "Application startup complete" *before* it binds the port (a port taken meanwhile
# fails after that line); "Uvicorn running on" comes once it listens.
READY_LINE = "Uvicorn running on"
STARTUP_TIMEOUT = 30.0  # seconds for the whole start; it takes about one
PORT_ATTEMPTS = 3

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


class ServerFailed(RuntimeError):
    pass


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


class ServerLog:
    """Drains the server's output on a thread (a full pipe would stall the server) and
    signals when uvicorn reports that it listens, or that the output ended."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.ready = False
        self.settled = threading.Event()  # listening, or the process closed its output
        self._thread = threading.Thread(
            target=self._drain, args=(stream,), name="identity-serve-log", daemon=True
        )
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                with self._lock:
                    self._lines.append(line.rstrip("\n"))
                if READY_LINE in line:
                    self.ready = True
                    self.settled.set()
        finally:
            self.settled.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)

    def text(self, since: int = 0) -> str:
        with self._lock:
            return "\n".join(self._lines[since:])

    def join(self) -> None:
        self._thread.join(timeout=10)


@dataclass
class Process:
    """A real process the tests talk to over HTTP, with its output."""

    process: subprocess.Popen[str]
    log: ServerLog

    def stop(self) -> None:
        """Terminate (uvicorn shuts down gracefully on SIGTERM), then kill if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.join()
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Server(Process):
    """``identity serve``: the provider."""

    url: str
    settings: Settings  # the process's configuration, for in-process helpers
    values: dict[str, str]  # the same as IDENTITY_* variables, for other commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    }


def deliver_outbox(server: Server) -> str:
    """Run ``identity outbox deliver`` against the server's database, as an operator would."""
    result = subprocess.run(
        [str(IDENTITY), "outbox", "deliver"],
        env=_environment(server.values),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def _environment(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update({f"IDENTITY_{name.upper()}": value for name, value in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _launch(
    args: list[str], values: dict[str, str], home: Path
) -> tuple[subprocess.Popen[str], ServerLog]:
    """Start ``identity <args>`` with ``values`` as its settings; wait until uvicorn listens
    or the process ends."""
    process = subprocess.Popen(
        [str(IDENTITY), *args],
        env=_environment(values),
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None
    log = ServerLog(process.stdout)
    log.settled.wait(STARTUP_TIMEOUT)
    return process, log


def _spawn(values: dict[str, str], home: Path) -> Server:
    port = values["issuer"].rpartition(":")[2]
    process, log = _launch(["serve", "--host", "127.0.0.1", "--port", port], values, home)
    settings = Settings(**values)  # type: ignore[arg-type]
    return Server(process=process, log=log, url=values["issuer"], settings=settings, values=values)


def start_server(database_url: str, home: Path) -> Server:
    """Migrate the empty database, start ``identity serve`` on a free port, wait until ready.

    Raises :class:`ServerFailed` with the process output when any step fails."""
    values = _settings_values(database_url, home / "var", free_port())
    upgrade = subprocess.run(
        [str(IDENTITY), "db", "upgrade"],
        env=_environment(values),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if upgrade.returncode != 0:
        raise ServerFailed(f"identity db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")

    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = _spawn(values, home)
        if server.log.ready and server.process.poll() is None:
            break
        server.stop()
        output = server.log.text()
        if "address already in use" not in output.lower() or attempt == PORT_ATTEMPTS:
            raise ServerFailed(f"identity serve did not start:\n{output}")
        # Another process took the port between our probe and the bind: pick another.
        values = _settings_values(database_url, home / "var", free_port())

    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
    except httpx.HTTPError as exc:
        server.stop()
        raise ServerFailed(f"/readyz failed: {exc!r}\n{server.log.text()}") from exc
    if ready.status_code != 200:
        server.stop()
        raise ServerFailed(
            f"/readyz answered {ready.status_code}: {ready.text}\n{server.log.text()}"
        )
    return server


# -- the demo relying party ---------------------------------------------------------------

CHANNELS = ("store", "app", "marketplace")


@dataclass
class DemoRp(Process):
    """``identity demo rp`` on a free port: the store and the app on ``127.0.0.1``, the
    marketplace on ``localhost`` (another site to the browser: its own cookies)."""

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
        created = runtime.clients.create(actor="operator:e2e", **spec)
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
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        # Clients are registered for one port; another attempt needs clients of its own.
        suffix = "" if attempt == 1 else f"-{port}"
        client_ids = register_channels(runtime, port, suffix, credentials)
        process, log = _launch(
            ["demo", "rp", "--host", "127.0.0.1", "--port", str(port)], server.values, home
        )
        rp = DemoRp(process=process, log=log, port=port, client_ids=client_ids)
        if log.ready and process.poll() is None:
            break
        rp.stop()
        output = log.text()
        if "address already in use" not in output.lower() or attempt == PORT_ATTEMPTS:
            raise ServerFailed(f"identity demo rp did not start:\n{output}")

    for channel in CHANNELS:  # both host names answer, and the pages render
        try:
            page = httpx.get(rp.home(channel), timeout=10)
        except httpx.HTTPError as exc:
            rp.stop()
            raise ServerFailed(f"{rp.home(channel)} failed: {exc!r}\n{rp.log.text()}") from exc
        if page.status_code != 200:
            rp.stop()
            raise ServerFailed(
                f"{rp.home(channel)} answered {page.status_code}: {page.text}\n{rp.log.text()}"
            )
    return rp
