"""The upstream providers of a deployment: one JSON file, edited by hand or by
``identity upstream add/remove``.

::

    {"providers": {"google": {"issuer": "https://accounts.google.com",
                              "client_id": "...", "client_secret": "...",
                              "display_name": "Google", "scopes": ["openid", "email", "profile"]}}}

The file holds client secrets, so the command writes it readable by its owner only. It is read
again whenever it changes (its modification time), so a provider added from the command line
appears on the sign-in page without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from identity.upstream.rules import PROVIDER_KEY, endpoint_problem

DEFAULT_SCOPES = ("openid", "email", "profile")
log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The providers file (or a provider being added) is not acceptable."""


@dataclass(frozen=True, slots=True)
class UpstreamProvider:
    key: str  # in our URLs: /login/upstream/{key}/callback
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    display_name: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES

    def public(self) -> dict[str, object]:
        """What ``identity upstream list`` shows: everything but the secret."""
        data = asdict(self)
        data.pop("client_secret")
        data["scopes"] = " ".join(self.scopes)
        return data


def provider_from(
    key: str, data: Mapping[str, object], *, allow_loopback_http: bool
) -> UpstreamProvider:
    """One provider entry, checked; raises :class:`ConfigError` naming what is wrong."""
    if not PROVIDER_KEY.fullmatch(key):
        raise ConfigError(f"{key!r}: a key is lower-case letters, digits, - and _ (32 at most)")
    values = {}
    for name in ("issuer", "client_id", "client_secret", "display_name"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}: {name} is required")
        values[name] = value.strip()
    issuer = values["issuer"].rstrip("/")
    problem = endpoint_problem(issuer, allow_loopback_http=allow_loopback_http)
    if problem:
        raise ConfigError(f"{key}: issuer {problem}")
    scopes = data.get("scopes", list(DEFAULT_SCOPES))
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ConfigError(f"{key}: scopes is a list of strings")
    if "openid" not in scopes:
        raise ConfigError(f"{key}: scopes must include openid")
    return UpstreamProvider(
        key=key,
        issuer=issuer,
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        display_name=values["display_name"][:60],
        scopes=tuple(dict.fromkeys(scopes)),
    )


def read_providers(path: Path, *, allow_loopback_http: bool) -> dict[str, UpstreamProvider]:
    """Every provider of the file (none when it does not exist)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from exc
    entries = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f'{path}: expected {{"providers": {{...}}}}')
    return {
        key: provider_from(
            key, value if isinstance(value, dict) else {}, allow_loopback_http=allow_loopback_http
        )
        for key, value in entries.items()
    }


def write_providers(path: Path, providers: Mapping[str, UpstreamProvider]) -> None:
    """Replace the file atomically, readable by its owner only (it holds client secrets)."""
    body = {
        "providers": {
            p.key: {**{k: v for k, v in asdict(p).items() if k != "key"}, "scopes": list(p.scopes)}
            for p in providers.values()
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(temporary, path)


class ProviderRegistry:
    """The file's providers, read again when it changes."""

    def __init__(self, path: Path, *, allow_loopback_http: bool) -> None:
        self.path = path
        self._allow = allow_loopback_http
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._providers: dict[str, UpstreamProvider] = {}
        self._read(self._mtime())  # a broken file stops start-up

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _read(self, stamp: int | None) -> None:
        self._providers = read_providers(self.path, allow_loopback_http=self._allow)
        self._stamp = stamp

    def all(self) -> dict[str, UpstreamProvider]:
        """The providers; a file broken while running keeps the last good ones (and says so
        in the log) rather than breaking the sign-in page."""
        stamp = self._mtime()
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._read(stamp)
                except ConfigError as exc:
                    log.error("upstream providers file not reloaded: %s", exc)
                    self._stamp = stamp
            return self._providers

    def get(self, key: str) -> UpstreamProvider | None:
        return self.all().get(key)

    def add(self, provider: UpstreamProvider) -> None:
        write_providers(self.path, {**self.all(), provider.key: provider})

    def remove(self, key: str) -> bool:
        providers = dict(self.all())
        if providers.pop(key, None) is None:
            return False
        write_providers(self.path, providers)
        return True
