"""Outbox rules (pure): the retry schedule, and which addresses a delivery may reach."""

from __future__ import annotations

import ipaddress
from datetime import timedelta


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff: base, 2·base, 4·base, ... capped at ``cap``."""
    return min(base * (2 ** max(0, min(attempts - 1, 30))), cap)


def gives_up(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts


def delivered(status_code: int) -> bool:
    """2xx is delivered; anything else (or no answer) is retried."""
    return 200 <= status_code < 300


# -- where deliveries may go ------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Global-looking IPv6 ranges that reach IPv4 hosts (NAT64) or are not hosts at all.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public_address(address: Address) -> bool:
    """Whether an address is a host on the public internet: not loopback, private, link-local,
    shared (CGNAT), multicast, reserved or unspecified, in IPv4 or IPv6, and no IPv6 form that
    embeds such an IPv4 address (mapped, 6to4, NAT64, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
        if address.teredo is not None or any(address in n for n in _NAT64):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def address_allowed(address: Address, allowed_networks: tuple[Network, ...]) -> bool:
    """Public addresses, and the networks an operator listed on purpose (an internal CRM)."""
    return is_public_address(address) or any(address in n for n in allowed_networks)
