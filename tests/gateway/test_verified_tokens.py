"""The gateway remembers whose a verified token is, briefly, and never past the token's expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.ratelimit.users import VerifiedTokens
from shared.tokens import InvalidToken, Principal


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingVerifier:
    """Stands in for shared.tokens.TokenVerifier: tokens are `user:expiry`, `forged` is refused, and
    a token past its expiry is refused as the real verifier refuses it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        user, _, expiry = token.partition(":")
        if user == "forged" or self.clock() >= float(expiry):
            raise InvalidToken("The access token is invalid.")
        return Principal(user, "customer", "jti", datetime.fromtimestamp(float(expiry), UTC))


def setup(ttl: float = 60.0, size: int = 100) -> tuple[VerifiedTokens, Any, Clock]:
    clock = Clock()
    return VerifiedTokens(size=size, ttl_seconds=ttl, clock=clock), CountingVerifier(clock), clock


async def test_a_token_is_verified_once_while_it_is_remembered() -> None:
    tokens, verifier, clock = setup()
    token = f"user-1:{clock.now + 900}"
    assert [await tokens.user_id(verifier, token) for _ in range(5)] == ["user-1"] * 5
    assert verifier.calls == 1


async def test_expiry_is_honoured_even_within_the_ttl() -> None:
    tokens, verifier, clock = setup(ttl=60.0)
    token = f"user-1:{clock.now + 10}"  # expires before the TTL would end
    assert await tokens.user_id(verifier, token) == "user-1"
    clock.now += 10
    with pytest.raises(InvalidToken):
        await tokens.user_id(verifier, token)
    assert verifier.calls == 2


async def test_after_the_ttl_the_token_is_verified_again() -> None:
    tokens, verifier, clock = setup(ttl=60.0)
    token = f"user-1:{clock.now + 900}"
    await tokens.user_id(verifier, token)
    clock.now += 59
    await tokens.user_id(verifier, token)
    assert verifier.calls == 1
    clock.now += 1
    await tokens.user_id(verifier, token)
    assert verifier.calls == 2


async def test_refusals_are_not_remembered() -> None:
    tokens, verifier, clock = setup()
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await tokens.user_id(verifier, f"forged:{clock.now + 900}")
    assert verifier.calls == 3
    assert len(tokens) == 0


async def test_the_least_recently_used_is_forgotten_first() -> None:
    tokens, verifier, clock = setup(size=2)
    first, second, third = (f"user-{n}:{clock.now + 900}" for n in (1, 2, 3))
    for token in (first, second, first, third):  # `first` used again: `second` is the oldest
        await tokens.user_id(verifier, token)
    assert (len(tokens), verifier.calls) == (2, 3)
    await tokens.user_id(verifier, first)
    assert verifier.calls == 3
    await tokens.user_id(verifier, second)
    assert verifier.calls == 4


async def test_another_verifier_does_not_inherit_the_verdicts() -> None:
    tokens, verifier, clock = setup()
    token = f"user-1:{clock.now + 900}"
    await tokens.user_id(verifier, token)
    other = CountingVerifier(clock)
    await tokens.user_id(other, token)
    assert other.calls == 1
