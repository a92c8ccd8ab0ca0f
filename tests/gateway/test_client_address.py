"""Who the client is: X-Forwarded-For and X-Forwarded-Proto are believed only from trusted proxies."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from gateway.clients import TrustedProxies
from gateway.proxy import upstream_headers
from shared.forwarding import IpNetwork, forwarded_client_ip, forwarded_proto, parse_address
from tests.gateway.test_routing import make_request

LB = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"), ip_network("2001:db8:1::/48")]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7 ", "198.51.100.7"),
        ("198.51.100.7:5555", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", None),
        ("", None),
        ("shop.example", None),
        ("[2001:db8::1", None),
        ("999.1.1.1", None),
    ],
)
def test_parse_address(value: str, parsed: str | None) -> None:
    address = parse_address(value)
    assert (str(address) if address else None) == parsed


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # Nobody trusted: the peer, whatever the header says.
        ("203.0.113.9", ["198.51.100.7"], [], "203.0.113.9"),
        # An untrusted peer cannot choose its address by sending the header.
        ("203.0.113.9", ["198.51.100.7"], LB, "203.0.113.9"),
        # A trusted peer: the address it received the request from.
        ("10.1.2.3", ["198.51.100.7"], LB, "198.51.100.7"),
        # The client's own entries (left) are ignored: the rightmost untrusted one is the client.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.7"], LB, "198.51.100.7"),
        # Chains of trusted proxies are skipped, across header lines too.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.7", "10.9.9.9, 127.0.0.1"], LB, "198.51.100.7"),
        ("127.0.0.1", ["198.51.100.7:61000"], LB, "198.51.100.7"),
        ("2001:db8:1::5", ["2001:db8:2::9"], LB, "2001:db8:2::9"),
        ("::ffff:10.0.0.1", ["198.51.100.7"], LB, "198.51.100.7"),
        # A trusted peer without the header: the peer itself.
        ("10.1.2.3", [], LB, "10.1.2.3"),
        ("10.1.2.3", [" , "], LB, "10.1.2.3"),
        # Junk ends the walk at the trusted hop to its right.
        ("10.1.2.3", ["198.51.100.7, unknown"], LB, "10.1.2.3"),
        ("10.1.2.3", ["unknown, 10.9.9.9"], LB, "10.9.9.9"),
        # Every hop trusted: the leftmost.
        ("10.1.2.3", ["10.0.0.5, 10.0.0.6"], LB, "10.0.0.5"),
        # A peer that is no address at all (a unix socket) is kept as it is.
        ("", ["198.51.100.7"], LB, ""),
    ],
)
def test_forwarded_client_ip(
    peer: str, forwarded_for: list[str], trusted: list[IpNetwork], client: str
) -> None:
    assert forwarded_client_ip(peer, forwarded_for, trusted) == client


@pytest.mark.parametrize(
    ("peer", "scheme", "header", "trusted", "proto"),
    [
        ("203.0.113.9", "https", None, [], "https"),
        ("203.0.113.9", "http", "https", [], "http"),
        ("203.0.113.9", "http", "https", LB, "http"),
        ("10.1.2.3", "http", "https", LB, "https"),
        ("10.1.2.3", "http", "HTTPS", LB, "https"),
        # Only the trusted peer's own (rightmost) value counts.
        ("10.1.2.3", "http", "https, http", LB, "http"),
        ("10.1.2.3", "http", "gopher", LB, "http"),
        ("10.1.2.3", "http", None, LB, "http"),
    ],
)
def test_forwarded_proto(
    peer: str, scheme: str, header: str | None, trusted: list[IpNetwork], proto: str
) -> None:
    assert forwarded_proto(peer, scheme, header, trusted) == proto


def test_upstream_gets_the_resolved_client_and_scheme() -> None:
    request = make_request(
        {
            "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=6.6.6.6",
        },
        ("10.1.2.3", 4000),
    )
    headers = dict(upstream_headers(request.scope, "token", TrustedProxies(LB)))
    assert headers["X-Forwarded-For"] == "198.51.100.7"
    assert headers["X-Forwarded-Proto"] == "https"
    assert "forwarded" not in {name.lower() for name in headers}


def test_upstream_gets_the_peer_when_it_is_not_trusted() -> None:
    request = make_request(
        {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}, ("10.1.2.3", 4000)
    )
    headers = dict(upstream_headers(request.scope, "token", TrustedProxies()))
    assert headers["X-Forwarded-For"] == "10.1.2.3"
    assert headers["X-Forwarded-Proto"] == "http"
