"""Which kind of address an IP address is: public, or loopback, private, link-local, CGNAT
and the like, which a job's reference URL must not reach unless the operator allows it."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_kind(address: IPAddress) -> str:
    """``"public"``, or why ``address`` is not: ``"loopback"``, ``"private"``,
    ``"link-local"``, ``"unspecified"``, ``"multicast"``, ``"reserved"`` or
    ``"shared (carrier-grade NAT)"``.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that IPv4
    address, since that is where packets to it end up. The tables are explicit rather than
    ``ipaddress``'s ``is_private`` / ``is_global``, whose answers changed between Python patch
    releases.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_kind(embedded)
        for network, kind in _IPV6_KINDS:
            if address in network:
                return kind
        # Only 2000::/3 is allocated for global unicast; the rest is unassigned.
        return "public" if address in _IPV6_GLOBAL_UNICAST else "reserved"
    for network, kind in _IPV4_KINDS:
        if address in network:
            return kind
    return "public"


def _networks(*table: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in table)


# From the IANA special-purpose address registries.
_IPV4_KINDS = _networks(
    ("0.0.0.0/8", "unspecified"),  # "this network": Linux connects 0.0.0.0 to the host itself
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # includes 169.254.169.254, the cloud metadata service
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
    ("192.0.2.0/24", "reserved"),  # documentation
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast, deprecated
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # documentation
    ("203.0.113.0/24", "reserved"),  # documentation
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes the broadcast address
)
_IPV6_KINDS = _networks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
    ("2001:db8::/32", "reserved"),  # documentation
    ("3fff::/20", "reserved"),  # documentation
    ("fc00::/7", "private"),  # unique local, e.g. fd00:ec2::254 (AWS metadata)
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # site-local, deprecated
    ("ff00::/8", "multicast"),
)
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_text(address: IPAddress) -> str:
    """``address`` for the log: some Python versions print ::ffff:10.0.0.5 as ::ffff:a00:5,
    which hides the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)
