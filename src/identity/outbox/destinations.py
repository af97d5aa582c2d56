"""Where a delivery may go, for targets that API clients choose (webhooks).

A subscriber must not be able to point the provider at its own network (loopback, private
ranges, cloud metadata at 169.254.169.254) and read the outcome as a port scanner would. The
target is checked when it is subscribed and again at every delivery: the host is resolved,
every address must be public (or in a network the operator listed on purpose), and the
connection goes to the address that was checked, with the original name in ``Host`` and TLS
SNI, so a second DNS answer (rebinding) cannot send it elsewhere. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from identity.outbox.rules import Address, Network, address_allowed

Resolver = Callable[[str, int], list[Address]]


class DestinationRefused(Exception):
    """The target may not be reached; ``permanent`` when it can never become reachable."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Destination:
    url: str  # the target with the checked address in place of its host name
    host_header: str
    sni_hostname: str | None


def resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class Destinations:
    def __init__(
        self, allowed_networks: tuple[Network, ...] = (), resolver: Resolver = resolve
    ) -> None:
        self._allowed = allowed_networks
        self._resolve = resolver

    def check(self, url: str) -> Destination:
        """The pinned destination for ``url``; raises :class:`DestinationRefused`."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise DestinationRefused("is not a valid URL") from exc
        host = parts.hostname
        if parts.scheme not in ("https", "http") or not host:
            raise DestinationRefused("must be an https URL")
        if parts.username is not None or parts.password is not None:
            raise DestinationRefused("must not contain credentials")
        if parts.fragment:
            raise DestinationRefused("must not contain a fragment")
        port = port or (443 if parts.scheme == "https" else 80)
        addresses = self._addresses(host, port)
        if not all(address_allowed(a, self._allowed) for a in addresses):
            raise DestinationRefused("must resolve only to public internet addresses")
        listed = all(any(a in n for n in self._allowed) for a in addresses)
        if parts.scheme == "http" and not listed:
            raise DestinationRefused("must be an https URL")
        address = addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        host_header = parts.netloc.rpartition("@")[2]
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        is_name = _literal(host) is None
        return Destination(
            pinned, host_header, host if is_name and parts.scheme == "https" else None
        )

    def _addresses(self, host: str, port: int) -> list[Address]:
        literal = _literal(host)
        if literal is not None:
            return [literal]
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise DestinationRefused("does not resolve", permanent=False) from exc
        if not addresses:
            raise DestinationRefused("does not resolve", permanent=False)
        return addresses


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
