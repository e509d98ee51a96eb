"""The address classifier behind the reference fetch's guard against private addresses."""

from __future__ import annotations

import ipaddress

import pytest

from genq.media.addresses import address_kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("93.184.216.34", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        ("192.0.3.1", "public"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.255", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2606:4700:4700::1111", "public"),
        ("2a00:1450:4001:80b::200e", "public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("4000::1", "reserved"),  # outside global unicast
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("64:ff9b::808:808", "public"),  # NAT64 of 8.8.8.8
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:808:808::1", "public"),  # 6to4 of 8.8.8.8
    ],
)
def test_address_kind(address: str, kind: str) -> None:
    """Addresses are classed as the IANA registries say; embedded IPv4 addresses decide."""
    assert address_kind(ipaddress.ip_address(address)) == kind
