"""The `Idempotency-Key` header of order, payment and refund creation, and its two errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from shared.errors import BadRequest, ValidationFailed

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Required: a unique value per attempt (a UUID); retries of that attempt reuse it.",
    ),
]


class IdempotencyKeyRequired(BadRequest):
    slug, title = "idempotency-key-required", "An Idempotency-Key header is required"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "This Idempotency-Key was used with a different request"


def require_key(key: str | None) -> str:
    """The key, or a 400 that says how to send one."""
    if key is None:
        raise IdempotencyKeyRequired("Send an Idempotency-Key header (a new UUID per attempt).")
    return key
