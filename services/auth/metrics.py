"""The auth service's metrics (docs/observability.md): login outcomes and throttling, and the
Argon2 work waiting for and holding the hashing slots (the login path's saturation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from prometheus_client import Counter, Gauge

from shared.metrics import PROCESS_REGISTRY

LoginOutcome = Literal["succeeded", "failed", "captcha_required"]

LOGINS = Counter(
    "auth_login_attempts_total",
    "Logins by outcome: succeeded, failed (wrong email or password), captcha_required (refused "
    "with 428 before any password check).",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
DELAYED = Counter(
    "auth_login_delayed_total",
    "Failed logins answered late: the account's or the client's failures passed their delay threshold.",
    registry=PROCESS_REGISTRY,
)
HASH_QUEUE = Gauge(
    "auth_password_hash_queue",
    "Argon2 hashes and verifications running in a worker thread, or waiting for a slot "
    "(PASSWORD_HASH_CONCURRENCY).",
    ["state"],
    registry=PROCESS_REGISTRY,
)
_WAITING, _RUNNING = HASH_QUEUE.labels("waiting"), HASH_QUEUE.labels("running")


def login(outcome: LoginOutcome) -> None:
    LOGINS.labels(outcome).inc()


def login_delayed() -> None:
    DELAYED.inc()


@asynccontextmanager
async def hashing_slot(slots: asyncio.Semaphore) -> AsyncIterator[None]:
    """Hold one of the hasher's slots, counted as waiting until it is had, then as running."""
    _WAITING.inc()
    try:
        await slots.acquire()
    finally:
        _WAITING.dec()
    _RUNNING.inc()
    try:
        yield
    finally:
        _RUNNING.dec()
        slots.release()
