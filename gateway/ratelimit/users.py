"""Whose request it is, for the per-user buckets: a bearer token is verified once, then its user is
remembered for a short while.

Verifying an access token (an Ed25519 signature and the claims) costs the gateway more CPU than the
rest of a proxied request's own work (docs/performance/gateway.md), and an SPA sends the same token
with every request for its fifteen minutes. The answer is kept by the token's SHA-256, never the
token itself, for at most `ttl_seconds` and never past the token's own expiry: an expired token is
verified again (and refused), and a key withdrawn from the key set stops counting within the TTL.
Only successes are kept, so a stream of forged tokens costs what it always did.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from shared.tokens import Principal

DEFAULT_SIZE = 4096
DEFAULT_TTL_SECONDS = 60.0


class Verifier(Protocol):
    """shared.tokens.Verifier, as far as this module needs it."""

    async def verify(self, token: str) -> Principal: ...


class VerifiedTokens:
    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._size = size
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._users: OrderedDict[bytes, tuple[str, float]] = OrderedDict()  # digest -> user, until
        self._verifier: Verifier | None = None  # whose verdicts these are

    async def user_id(self, verifier: Verifier, token: str) -> str:
        """The token's user; raises what `verifier.verify` raises (InvalidToken, KeysUnavailable)."""
        if verifier is not self._verifier:  # another verifier, other keys: start afresh
            self._users.clear()
            self._verifier = verifier
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        remembered = self._users.get(digest)
        if remembered is not None:
            user_id, until = remembered
            if now < until:
                self._users.move_to_end(digest)
                return user_id
            del self._users[digest]
        principal = await verifier.verify(token)
        until = min(now + self._ttl_seconds, principal.expires_at.timestamp())
        if now < until:
            self._users[digest] = (principal.user_id, until)
            if len(self._users) > self._size:
                self._users.popitem(last=False)
        return principal.user_id

    def __len__(self) -> int:
        return len(self._users)
