"""Identifiers on the wire: MongoDB ObjectIds as 24 lowercase hex characters, validated before any query."""

from __future__ import annotations

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
