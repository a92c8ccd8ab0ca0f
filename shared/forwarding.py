"""What the gateway tells the services about the original request, and how services trust it."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from fastapi import Request

from shared.settings import INTERNAL_TOKEN_HEADER, CommonSettings

__all__ = ["INTERNAL_TOKEN_HEADER"]  # where the gateway and the tests have always found it

# Set by the gateway once it has verified a CAPTCHA solution for this request.
CAPTCHA_VERIFIED_HEADER = "X-Captcha-Verified"


def from_gateway(request: Request, settings: CommonSettings) -> bool:
    """True when the request carries the gateway's internal token (compared in constant time)."""
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    expected = settings.internal_token.get_secret_value() if settings.internal_token else ""
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def captcha_verified(request: Request, settings: CommonSettings) -> bool:
    """True when the gateway vouches that this request carried a valid, unused CAPTCHA solution."""
    return request.headers.get(CAPTCHA_VERIFIED_HEADER) == "true" and from_gateway(request, settings)


def client_ip(request: Request, settings: CommonSettings) -> str:
    """The caller's address: the gateway's `X-Forwarded-For` when the gateway vouches for it,
    otherwise the peer address (a caller reaching a service directly cannot spoof its IP)."""
    forwarded = request.headers.get("x-forwarded-for", "").strip()
    if forwarded and from_gateway(request, settings):
        return forwarded
    return request.client.host if request.client else ""


IpAddress = IPv4Address | IPv6Address
IpNetwork = IPv4Network | IPv6Network


def parse_address(value: str) -> IpAddress | None:
    """An address from a peer or an `X-Forwarded-For` entry (an optional port or brackets allowed),
    IPv4-mapped IPv6 folded to IPv4; None when it is not an address (`unknown`, a hostname, junk)."""
    text = value.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # 198.51.100.7:5555
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


# One IPv6 subscriber usually gets a whole /64 (RFC 6177): counting each address of it apart would
# give one client 2^64 separate budgets. IPv4 addresses count one by one.
IPV6_CLIENT_PREFIX = 64


def client_group(address: str) -> str:
    """The key that counts a client address for limits: an IPv4 address itself, an IPv6 address's
    /64 network (`2001:db8:1:2::/64`); anything that is not an address, unchanged."""
    parsed = parse_address(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address


def is_trusted(address: IpAddress, trusted: Iterable[IpNetwork]) -> bool:
    return any(address in network for network in trusted)


def forwarded_client_ip(peer: str, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]) -> str:
    """The client's address as the gateway sees it.

    `peer` is the TCP peer; `forwarded_for` the `X-Forwarded-For` header lines in order. The peer is
    the client unless it is a trusted proxy: then the header is walked from the right (each proxy
    appends the address it received the request from), skipping trusted proxies, and the first
    untrusted address is the client. Everything left of it was written by the client and is ignored.
    A malformed entry ends the walk at the trusted hop to its right, which is then the client; when
    every address is trusted, the leftmost is.
    """
    current = parse_address(peer)
    if current is None or not is_trusted(current, trusted):
        return str(current) if current is not None else peer
    entries = [entry for line in forwarded_for for entry in line.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        current = address
        if not is_trusted(current, trusted):
            break
    return str(current)


def forwarded_proto(
    peer: str, scheme: str, forwarded_proto_header: str | None, trusted: Sequence[IpNetwork]
) -> str:
    """`https` when the request reached us over TLS, or a trusted proxy says it reached *it* over TLS.

    Only the rightmost `X-Forwarded-Proto` value counts: it is the one the trusted peer wrote.
    """
    if scheme in ("https", "wss"):
        return "https"
    address = parse_address(peer)
    if forwarded_proto_header and address is not None and is_trusted(address, trusted):
        claimed = forwarded_proto_header.split(",")[-1].strip().lower()
        if claimed in ("http", "https"):
            return claimed
    return "http"
