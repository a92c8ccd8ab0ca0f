"""The shape of a refresh token: `<family id>.<secret>`, readable by the gateway without a lookup.

The family id (32 hexadecimal characters, one per login) is not secret on its own: it only names the
session a token belongs to. The secret part (256 bits, or a successor derived from the previous
token) is what proves possession; only the auth service can check it, against an HMAC it stores.

Why the family is visible: the gateway rate-limits refreshes per session (gateway/ratelimit/), so a
shopper reloading pages, or opening several tabs, spends the budget of their own session and nobody
else's, while everyone behind one address keeps theirs. A caller cannot gain from inventing families:
a token whose family is unknown is refused by auth like any wrong token, and every refresh also
counts in a looser per-client bucket, which bounds how many invented families one client can try.

Tokens issued before families were visible (a bare secret, no dot) are still accepted by auth; they
carry no family, and the gateway counts them per client only.
"""

from __future__ import annotations

import re

FAMILY_PATTERN = r"[0-9a-f]{32}"
SEPARATOR = "."
_TOKEN = re.compile(rf"^({FAMILY_PATTERN})\.[A-Za-z0-9_-]{{16,128}}$")


def compose(family_id: str, secret: str) -> str:
    """The token of `family_id` with this secret part."""
    return f"{family_id}{SEPARATOR}{secret}"


def family_of(token: str) -> str | None:
    """The family id a well-formed token names, else None (a legacy token, or not a token at all)."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else None
