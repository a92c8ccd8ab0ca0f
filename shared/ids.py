"""Identifiers on the wire: MongoDB ObjectIds as 24 lowercase hex characters, validated before any query."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from bson import ObjectId
from fastapi import Path

OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"


def object_id_path(description: str) -> object:
    """A path parameter that must be an ObjectId (anything else is a 422, never a query)."""
    return Path(pattern=OBJECT_ID_PATTERN, description=description, examples=["665f1c2ab8e4d1a9c3f0b7d2"])


def to_object_id(value: str) -> ObjectId:
    """Convert an id already validated against OBJECT_ID_PATTERN."""
    return ObjectId(value)


ProductId = Annotated[str, object_id_path("Product id")]


def unguessable_object_id() -> ObjectId:
    """An ObjectId for a document whose id appears in URLs (orders, payments, refunds).

    A default ObjectId is a timestamp, a per-process constant and a counter: from one's own id a
    neighbour's is a few guesses away. This one keeps the 4-byte timestamp (ids still sort by
    creation time, which keyset pagination relies on) and makes the other 8 bytes random, so
    guessing another id means guessing 64 random bits; ownership checks stay the real defence.
    """
    seconds = int(time.time()).to_bytes(4, "big")
    return ObjectId(seconds + secrets.token_bytes(8))
