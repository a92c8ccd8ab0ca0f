"""Argon2id hashing: round trips, refused parameters, rehash detection, the dummy verify, the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import argon2
import pytest

from services.auth.passwords.hashing import DEFAULT_ARGON2, Argon2Parameters, PasswordHasher

# OWASP's minimum: the cheapest parameters the hasher accepts, to keep most tests fast.
FAST = Argon2Parameters(time_cost=2, memory_cost_kib=19456, parallelism=1)
PASSWORD = "plum tiger seven lanterns"  # pragma: allowlist secret


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST)


async def test_hash_then_verify_round_trips(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert PASSWORD not in password_hash
    assert await hasher.verify(password_hash, PASSWORD) is True


async def test_each_hash_has_its_own_salt(hasher: PasswordHasher) -> None:
    assert await hasher.hash(PASSWORD) != await hasher.hash(PASSWORD)


async def test_wrong_password_is_false(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, PASSWORD.upper()) is False
    assert await hasher.verify(password_hash, "") is False


async def test_precomposed_and_combining_accents_verify_alike(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash("crème brûlée au café")
    assert await hasher.verify(password_hash, "cre\u0300me bru\u0302le\u0301e au cafe\u0301") is True


async def test_lone_surrogate_password_is_false_not_an_error(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, "\ud800 tiger") is False


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$garbage",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$é",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
async def test_invalid_or_unknown_hash_is_false_not_an_error(hasher: PasswordHasher, garbage: str) -> None:
    assert await hasher.verify(garbage, PASSWORD) is False
    assert hasher.needs_rehash(garbage) is True


async def test_argon2i_hash_is_unknown(hasher: PasswordHasher) -> None:
    argon2i = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=argon2.Type.I)
    assert await hasher.verify(argon2i.hash(PASSWORD), PASSWORD) is False


async def test_needs_rehash_only_when_parameters_changed(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert hasher.needs_rehash(password_hash) is False
    assert PasswordHasher(FAST, max_concurrency=1).needs_rehash(password_hash) is False
    for stronger in (
        Argon2Parameters(time_cost=3, memory_cost_kib=19456, parallelism=1),
        Argon2Parameters(time_cost=2, memory_cost_kib=32768, parallelism=1),
        Argon2Parameters(time_cost=2, memory_cost_kib=19456, parallelism=2),
    ):
        assert PasswordHasher(stronger).needs_rehash(password_hash) is True


@pytest.mark.parametrize(
    ("time_cost", "memory_cost_kib", "parallelism"),
    [
        (1, 19456, 1),  # one pass needs 46 MiB
        (2, 19455, 1),
        (10, 16384, 1),
        (1, 47103, 1),
        (0, 65536, 1),
        (3, 65536, 0),
    ],
)
def test_parameters_weaker_than_owasp_are_refused(
    time_cost: int, memory_cost_kib: int, parallelism: int
) -> None:
    with pytest.raises(ValueError, match="Argon2"):
        Argon2Parameters(time_cost=time_cost, memory_cost_kib=memory_cost_kib, parallelism=parallelism)


@pytest.mark.parametrize(
    ("time_cost", "memory_cost_kib", "parallelism"),
    [(2, 19456, 1), (1, 47104, 1), (3, 65536, 4), (2, 19456, 8)],
)
def test_parameters_at_least_as_strong_as_owasp_are_accepted(
    time_cost: int, memory_cost_kib: int, parallelism: int
) -> None:
    params = Argon2Parameters(time_cost=time_cost, memory_cost_kib=memory_cost_kib, parallelism=parallelism)
    params.validate()
    PasswordHasher(params)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        PasswordHasher(FAST, max_concurrency=0)


async def test_default_hash_is_argon2id_with_the_chosen_parameters() -> None:
    assert (DEFAULT_ARGON2.time_cost, DEFAULT_ARGON2.memory_cost_kib, DEFAULT_ARGON2.parallelism) == (
        3,
        65536,
        4,
    )
    password_hash = await PasswordHasher(DEFAULT_ARGON2).hash(PASSWORD)
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    parameters = argon2.extract_parameters(password_hash)
    assert parameters.type is argon2.Type.ID
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (3, 65536, 4)


async def test_verify_against_dummy_runs_a_real_verify_with_the_same_parameters(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hasher.dummy_hash is None
    real_verify = hasher.verify
    calls: list[tuple[str, str, bool]] = []

    async def spy(password_hash: str, password: str) -> bool:
        result = await real_verify(password_hash, password)
        calls.append((password_hash, password, result))
        return result

    monkeypatch.setattr(hasher, "verify", spy)
    await hasher.verify_against_dummy(PASSWORD)
    dummy_hash = hasher.dummy_hash
    assert dummy_hash is not None
    assert calls == [(dummy_hash, PASSWORD, False)]
    assert dummy_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.needs_rehash(dummy_hash) is False

    await hasher.verify_against_dummy("another guess entirely")
    assert hasher.dummy_hash == dummy_hash, "the dummy hash is computed once"
    assert len(calls) == 2


async def test_concurrent_first_dummy_verifies_share_one_dummy_hash(hasher: PasswordHasher) -> None:
    await asyncio.gather(*(hasher.verify_against_dummy(f"guess {n}") for n in range(3)))
    dummy_hash = hasher.dummy_hash
    await hasher.warm_up()
    assert hasher.dummy_hash == dummy_hash


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = PasswordHasher(DEFAULT_ARGON2)
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        password_hash = await hasher.hash(PASSWORD)
        assert await hasher.verify(password_hash, PASSWORD) is True
    finally:
        running = False
        await task
    assert ticks >= 3, f"the loop ticked only {ticks} times during a hash and a verify"


async def test_concurrency_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(FAST, max_concurrency=2)
    lock = threading.Lock()
    running = 0
    most = 0
    real_hash: Callable[..., str] = argon2.PasswordHasher.hash

    def counting_hash(self: argon2.PasswordHasher, password: bytes, **kwargs: object) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real_hash(self, password, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(argon2.PasswordHasher, "hash", counting_hash)
    hashes = await asyncio.gather(*(hasher.hash(f"{PASSWORD} {n}") for n in range(6)))
    assert len(set(hashes)) == 6
    assert most == 2
