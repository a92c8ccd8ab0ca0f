"""`Idempotency-Key`: the header of order, payment and refund creation, and the one way to honour it.

A client sends a new key per attempt and reuses it when it retries that attempt (after a timeout, a
503, a dropped connection). The first request with a key has its effect; every later one with the
same key answers what the first created (`Idempotent-Replayed: true`), so a retry never orders,
charges or refunds twice. The same key with a different request is a mistake: 422
`idempotency-key-reused`. Keys are scoped per caller (or per payment, for refunds), and the record
that claims a key is written in the same transaction as the effect, under a unique index, so two
concurrent requests with one key cannot both have it: the loser of that race replays the winner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Header, Response
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from shared.db import Document
from shared.errors import BadRequest, ValidationFailed

T = TypeVar("T")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Required: a unique value per attempt (a UUID); retries of that attempt reuse it.",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyRequired(BadRequest):
    slug, title = "idempotency-key-required", "An Idempotency-Key header is required"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "This Idempotency-Key was used with a different request"


def require_key(key: str | None) -> str:
    """The key, or a 400 that says how to send one."""
    if key is None:
        raise IdempotencyKeyRequired("Send an Idempotency-Key header (a new UUID per attempt).")
    return key


def fingerprint(request: BaseModel) -> str:
    """What makes two requests "the same" for one key: their validated bodies, canonically."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Once(Generic[T]):
    value: T
    replayed: bool  # True: an earlier request with this key created `value`


async def claim_or_replay(
    *,
    find: Callable[[], Awaitable[Document | None]],
    same_request: Callable[[Document], bool],
    create: Callable[[], Awaitable[T]],
    replay: Callable[[Document], Awaitable[T]],
    what: str,
) -> Once[T]:
    """Have `create`'s effect once per key, or answer with what the key's first request created.

    `find` reads the record that claims the key (None: unclaimed); `create` claims it in its own
    transaction, under a unique index, and raises DuplicateKeyError when a concurrent request with
    the same key committed first; `replay` turns the claiming record into the answer. A record of
    a different request (`same_request` False) is a 422 naming `what` was asked for.
    """
    existing = await find()
    if existing is None:
        try:
            return Once(await create(), replayed=False)
        except DuplicateKeyError:
            existing = await find()
            if existing is None:
                raise  # a conflict on another unique index: not ours to answer
    if not same_request(existing):
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was used for a different {what} request; use a new key."
        )
    return Once(await replay(existing), replayed=True)


def mark_created(response: Response, *, replayed: bool, location: str | None = None) -> None:
    """The headers of a creation answer: where the created resource lives, and whether this answer
    replays an earlier request with the same key."""
    if location is not None:
        response.headers["Location"] = location
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
