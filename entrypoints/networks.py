"""IP addresses and CIDR networks from the configuration: parsed once, checked per request."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def parse_network(text: str) -> Network:
    """`10.0.0.0/8`, `2001:db8::/32` or a bare address (one host).

    Raises:
        ValueError: naming the value and, for host bits set, the network meant.
    """
    value = text.strip()
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8, 2001:db8::/32)"
        ) from None
    raise ValueError(f"{text!r} has host bits set: did you mean {loose}?")


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Every entry parsed; the first bad one raises ValueError naming its position."""
    networks = []
    for index, value in enumerate(values):
        try:
            networks.append(parse_network(value))
        except ValueError as error:
            raise ValueError(f"[{index}] {error}") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as peers and proxies write it (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`).

    IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes the IPv4 address, so one client has one form.
    None when it is not an address (say, `unknown` or a test client's name).
    """
    value = text.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(value.partition("%")[0])  # no IPv6 zone id
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address | None, networks: Iterable[Network]) -> bool:
    """Whether the address lies in one of the networks (never for a non-address)."""
    if address is None:
        return False
    return any(address.version == n.version and address in n for n in networks)
