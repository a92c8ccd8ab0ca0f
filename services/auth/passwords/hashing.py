"""Argon2id password hashing, off the event loop and bounded in concurrency.

`DEFAULT_ARGON2` is RFC 9106's second recommended option (the "low-memory" profile: t=3, 64 MiB,
p=4). Measured on the 2-core development machine with argon2-cffi 25.1.0, one hash and one verify
each take 130-170 ms (median of 10, over several runs), under the 300 ms above which a lighter
profile would have been chosen. Two cores verify about 7 passwords a second at most: login
throughput is bounded by this cost by design, which RATE_LIMIT_AUTH should allow for.
`Argon2Parameters` refuses anything weaker than OWASP's Argon2id minimum (19 MiB with t=2, or
46 MiB with t=1, p=1).

Each hash holds `memory_cost_kib` of memory for its whole run, so at most `max_concurrency` run at
once (64 MiB x 4 = 256 MiB by default); the rest wait their turn on the event loop, which stays free
because hashing runs in a worker thread.

Passwords are NFKC-normalised before hashing and verifying (`policy.normalize_password`, as NIST SP
800-63B advises), so a password typed with precomposed or combining accents verifies either way.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from services.auth import metrics
from services.auth.passwords.policy import normalize_password

# OWASP Password Storage Cheat Sheet, Argon2id: m=19456 KiB with t=2 (p=1), or m=47104 KiB with t=1.
OWASP_MIN_MEMORY_KIB = 19456
OWASP_MIN_TIME_COST = 2
OWASP_SINGLE_PASS_MEMORY_KIB = 47104

# Only hashes in this format are ever verified; anything else is an unknown hash.
_ARGON2ID_PREFIX = "$argon2id$"


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id cost parameters; construction refuses anything weaker than OWASP's minimum."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError when these parameters are invalid or weaker than OWASP's Argon2id minimum."""
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("Argon2 time_cost and parallelism must be at least 1")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError("Argon2 memory_cost_kib must be at least 8 KiB per lane (8 * parallelism)")
        strong_enough = (
            self.memory_cost_kib >= OWASP_MIN_MEMORY_KIB and self.time_cost >= OWASP_MIN_TIME_COST
        ) or (self.memory_cost_kib >= OWASP_SINGLE_PASS_MEMORY_KIB and self.time_cost >= 1)
        if not strong_enough:
            raise ValueError(
                f"Argon2id parameters t={self.time_cost}, m={self.memory_cost_kib} KiB are weaker than "
                f"OWASP's minimum (m>={OWASP_MIN_MEMORY_KIB} KiB with t>={OWASP_MIN_TIME_COST}, "
                f"or m>={OWASP_SINGLE_PASS_MEMORY_KIB} KiB with t>=1)"
            )


DEFAULT_ARGON2 = Argon2Parameters(time_cost=3, memory_cost_kib=65536, parallelism=4)


class PasswordHasher:
    """Hashes and verifies passwords with Argon2id in worker threads, a few at a time."""

    def __init__(self, params: Argon2Parameters, max_concurrency: int = 4) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        params.validate()
        self.params = params
        self._argon2 = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            type=argon2.Type.ID,
        )
        # Each running hash holds memory_cost_kib: the semaphore is what bounds memory under a burst.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._dummy_hash: str | None = None
        self._dummy_lock = asyncio.Lock()

    async def hash(self, password: str) -> str:
        """The Argon2id hash of `password` (NFKC-normalised), with a fresh random salt."""
        secret = _encode(password)
        async with metrics.hashing_slot(self._slots):
            return await asyncio.to_thread(self._argon2.hash, secret)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches `password_hash`; False on a mismatch or an invalid or unknown hash."""
        if not _is_argon2id(password_hash):
            return False
        secret = _encode(password)
        async with metrics.hashing_slot(self._slots):
            return await asyncio.to_thread(self._verify_blocking, password_hash, secret)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when `password_hash` was not made with the current parameters (or cannot be read)."""
        if not _is_argon2id(password_hash):
            return True
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    @property
    def dummy_hash(self) -> str | None:
        """The hash `verify_against_dummy` verifies against, once it has been computed."""
        return self._dummy_hash

    async def warm_up(self) -> None:
        """Compute the dummy hash now (at start-up), so the first unknown-email login is not slower."""
        await self._get_dummy_hash()

    async def verify_against_dummy(self, password: str) -> None:
        """Spend the time of a real verify, for logins with an unknown email.

        The dummy hash has the same parameters as real ones and goes through the same path (the same
        semaphore, thread and Argon2 verify), so the response time does not tell whether an account
        exists. The result is discarded: the dummy password is random and never known.
        """
        await self.verify(await self._get_dummy_hash(), password)

    async def _get_dummy_hash(self) -> str:
        if self._dummy_hash is None:
            async with self._dummy_lock:
                if self._dummy_hash is None:
                    self._dummy_hash = await self.hash(secrets.token_urlsafe(32))
        return self._dummy_hash

    def _verify_blocking(self, password_hash: str, secret: bytes) -> bool:
        try:
            return self._argon2.verify(password_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


def _encode(password: str) -> bytes:
    """The bytes Argon2 hashes: NFKC, then UTF-8; a lone surrogate (never accepted by the policy)
    is carried as is so that verifying it fails like any wrong password instead of raising."""
    return normalize_password(password).encode("utf-8", "surrogatepass")


def _is_argon2id(password_hash: str) -> bool:
    return password_hash.isascii() and password_hash.startswith(_ARGON2ID_PREFIX)
