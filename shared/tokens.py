"""Access-token verification that every service runs locally (no call to auth per request).

Tokens are EdDSA (Ed25519) JWTs issued by the auth service. The algorithm is pinned, `kid` must
name a published key, and `exp`, `iat`, `iss`, `aud`, `sub` and `jti` are required and checked.
Public keys come from the auth service's JWKS, fetched before the process reports ready, cached,
and refetched (at most every few seconds) when a token names a key not seen yet, which is how a
rotated-in key is picked up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from shared.logging import log_event

ACCESS_TOKEN_ALGORITHM = "EdDSA"  # noqa: S105 - an algorithm name
# RFC 9068: tells access tokens apart from any other JWT.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type
ROLES = ("customer", "admin")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
# An unknown kid triggers a JWKS refetch at most this often, so random kids cannot hammer auth.
MIN_REFETCH_SECONDS = 5.0
# What a 503 for unavailable keys tells the client to wait before retrying.
KEYS_RETRY_AFTER_SECONDS = 2

logger = logging.getLogger("shared.tokens")


class InvalidToken(Unauthorized):
    slug, title = "invalid-token", "Invalid or expired access token"


class AdminRequired(Forbidden):
    slug, title = "admin-required", "This operation needs the admin role"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: str
    role: str
    token_id: str
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class KeySet(Protocol):
    async def key_for(self, kid: str) -> Ed25519PublicKey | None: ...


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey | None:
    """The Ed25519 key of one JWK, or None for any other kind of key (which is never trusted)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    key = OKPAlgorithm.from_jwk(dict(jwk))
    return key if isinstance(key, Ed25519PublicKey) else None


class StaticKeySet:
    """Keys known up front: the auth service's own, or keys configured on a verifier."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class KeysUnavailable(ServiceUnavailable):
    """The verification keys could not be fetched: the token was not shown to be invalid, so the
    caller is told to retry (503) rather than logged out (401)."""

    slug, title = "keys-unavailable", "Token verification keys unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The keys that verify access tokens could not be fetched; retry shortly.",
            headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
        )


class JwksKeySet:
    """Keys from a JWKS URL, cached for `cache_seconds` and refetched for an unknown kid.

    One fetch at a time (single flight): every request that needs a key while a fetch is in flight
    waits for that fetch (at most `wait_seconds`) instead of failing, which is what logged valid
    users out right after a restart. An unknown kid after a fresh successful fetch is an invalid
    token (None, so 401); a fetch that failed or timed out, with no key for the kid, raises
    KeysUnavailable (503). Expired keys keep verifying while the auth service cannot be reached:
    a failed fetch must not log everybody out.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        cache_seconds: float,
        *,
        wait_seconds: float = 5.0,
        min_refetch_seconds: float = MIN_REFETCH_SECONDS,
    ) -> None:
        self._client = client
        self._url = url
        self._cache_seconds = cache_seconds
        self._wait_seconds = wait_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")  # last successful fetch: how fresh the keys are
        self._attempted_at = float("-inf")  # last fetch tried, successful or not
        self._last_failed = False
        self._inflight: asyncio.Task[bool] | None = None

    @property
    def loaded(self) -> bool:
        """Whether a fetch has succeeded (readiness: a verifier without keys is not ready)."""
        return self._fetched_at > float("-inf")

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        now = time.monotonic()
        known = kid in self._keys
        if known and now - self._fetched_at <= self._cache_seconds:
            return self._keys[kid]
        if self._inflight is None and now - self._attempted_at <= self._min_refetch_seconds:
            # Asked very recently: an unknown kid cannot make us hammer the auth service.
            return self._answer(kid, fetched=not self._last_failed)
        fetched = await self.refresh()
        return self._answer(kid, fetched=fetched)

    def _answer(self, kid: str, *, fetched: bool) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is None and not fetched:
            raise KeysUnavailable()
        return key

    async def refresh(self) -> bool:
        """Fetch the key set, joining a fetch already in flight; whether the fetch succeeded."""
        if self._inflight is None:
            self._attempted_at = time.monotonic()
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(self._fetch_done)
        try:
            # shield: a waiter that gives up (or is cancelled) does not cancel the others' fetch.
            async with asyncio.timeout(self._wait_seconds):
                return await asyncio.shield(self._inflight)
        except TimeoutError:
            return False

    def _fetch_done(self, task: asyncio.Task[bool]) -> None:
        self._inflight = None
        self._last_failed = task.cancelled() or not task.result()

    async def _fetch(self) -> bool:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            published = response.json()["keys"]
            keys = {jwk["kid"]: key for jwk in published if (key := public_key_from_jwk(jwk))}
        except Exception as exc:  # whatever went wrong, the answer is "no keys now", never a 500
            log_event(logger, "auth.jwks_fetch_failed", logging.WARNING, error=type(exc).__name__)
            return False
        self._keys = keys
        self._fetched_at = time.monotonic()
        return True


class TokenVerifier:
    def __init__(self, keys: KeySet, *, issuer: str, audience: str, leeway_seconds: float) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; InvalidToken (401) for anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("The access token is malformed.") from exc
        kid = header.get("kid")
        if header.get("alg") != ACCESS_TOKEN_ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("The access token is not of the expected type.")
        key = await self.keys.key_for(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("The access token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ACCESS_TOKEN_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired; refresh it.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("The access token is invalid.") from exc
        return _principal(claims)


def _principal(claims: Mapping[str, Any]) -> Principal:
    role, subject, token_id = claims.get("role"), claims["sub"], claims["jti"]
    if role not in ROLES or not isinstance(subject, str) or not isinstance(token_id, str):
        raise InvalidToken("The access token is invalid.")
    return Principal(subject, role, token_id, datetime.fromtimestamp(claims["exp"], UTC))
