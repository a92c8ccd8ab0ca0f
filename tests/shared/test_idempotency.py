"""The one Idempotency-Key rule, in process: first request creates, the same request replays, another
request is a 422, and the loser of a race for one key replays the winner (shared/idempotency.py)."""

from __future__ import annotations

import pytest
from fastapi import Response
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from shared.db import Document
from shared.idempotency import (
    IdempotencyKeyReused,
    Once,
    claim_or_replay,
    fingerprint,
    mark_created,
)


class Body(BaseModel):
    items: list[int]
    note: str = ""


class Store:
    """Records claiming keys, as a unique index would keep them."""

    def __init__(self) -> None:
        self.records: dict[str, Document] = {}
        self.created = 0

    async def find(self, key: str) -> Document | None:
        return self.records.get(key)

    async def create(self, key: str, body: Body) -> str:
        if key in self.records:
            raise DuplicateKeyError("E11000 duplicate key")
        self.created += 1
        made = f"thing-{self.created}"
        self.records[key] = {"print": fingerprint(body), "made": made}
        return made

    async def once(self, key: str, body: Body) -> Once[str]:
        async def replay(record: Document) -> str:
            return str(record["made"])

        return await claim_or_replay(
            find=lambda: self.find(key),
            same_request=lambda record: record["print"] == fingerprint(body),
            create=lambda: self.create(key, body),
            replay=replay,
            what="thing",
        )


async def test_the_first_request_creates_and_a_retry_replays() -> None:
    store = Store()
    first = await store.once("k1", Body(items=[1, 2]))
    again = await store.once("k1", Body(items=[1, 2]))
    assert first == Once("thing-1", replayed=False)
    assert again == Once("thing-1", replayed=True)
    assert store.created == 1


async def test_the_same_key_with_another_request_is_refused() -> None:
    store = Store()
    await store.once("k1", Body(items=[1]))
    with pytest.raises(IdempotencyKeyReused, match="different thing request"):
        await store.once("k1", Body(items=[2]))


async def test_the_loser_of_a_race_for_one_key_replays_the_winner() -> None:
    store = Store()
    winner = Body(items=[3])
    store.records["k1"] = {"print": fingerprint(winner), "made": "thing-by-the-winner"}
    calls = 0

    async def unclaimed_at_first(key: str) -> Document | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else store.records.get(key)

    store.find = unclaimed_at_first  # type: ignore[method-assign]  # the winner commits in between
    assert await store.once("k1", winner) == Once("thing-by-the-winner", replayed=True)
    assert store.created == 0


async def test_a_conflict_on_another_index_is_not_swallowed() -> None:
    async def conflict() -> str:
        raise DuplicateKeyError("E11000 on another index")

    async def nothing() -> Document | None:
        return None

    async def replay(record: Document) -> str:
        raise AssertionError("nothing to replay")

    with pytest.raises(DuplicateKeyError):
        await claim_or_replay(
            find=nothing, same_request=lambda _: True, create=conflict, replay=replay, what="thing"
        )


def test_fingerprints_ignore_key_order_but_not_values() -> None:
    assert fingerprint(Body(items=[1, 2], note="a")) == fingerprint(Body(note="a", items=[1, 2]))
    assert fingerprint(Body(items=[1, 2])) != fingerprint(Body(items=[2, 1]))


def test_creation_headers() -> None:
    fresh, replayed = Response(), Response()
    mark_created(fresh, replayed=False, location="/api/v1/orders/1")
    mark_created(replayed, replayed=True)
    assert fresh.headers["Location"] == "/api/v1/orders/1"
    assert "Idempotent-Replayed" not in fresh.headers
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert "Location" not in replayed.headers
