"""What may be said about a MongoDB URL in messages and logs."""

from __future__ import annotations


def where(url: str) -> str:
    """The host list of a MongoDB URL, without the credentials it may hold (and without a DNS lookup)."""
    hosts = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return hosts.rsplit("@", 1)[-1]
