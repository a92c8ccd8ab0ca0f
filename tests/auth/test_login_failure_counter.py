"""The login failure counter under a burst of first attempts: concurrent upserts of one new counter
must all count (one of them used to fail with a duplicate key, which answered a login with 500)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

from services.auth.login_attempts import repository
from shared.clock import utcnow
from shared.db import Database

BURST = 20


async def test_a_burst_of_first_attempts_counts_every_one(db: Database) -> None:
    for _ in range(3):  # a race is not lost every time: three fresh counters
        key = f"account:race-{secrets.token_hex(6)}@example.test"
        barrier = asyncio.Barrier(BURST)

        counts = await asyncio.gather(*(_counted(db, barrier, key) for _ in range(BURST)))
        assert sorted(counts) == list(range(1, BURST + 1))
        stored = await db.login_failures.find_one({"_id": key})
        assert stored is not None
        assert stored["count"] == BURST


async def _counted(db: Database, barrier: asyncio.Barrier, key: str) -> int:
    await barrier.wait()
    return await repository.count_attempt(db, key, utcnow(), window=timedelta(minutes=15))
