"""Opaque keyset cursors: the position after which the next page starts, as base64url JSON.

A cursor is read strictly: anything that does not decode to the expected shape raises ValueError,
which callers turn into a 422. Its values only ever become typed comparison operands.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if not isinstance(payload, dict):
        raise ValueError("malformed cursor")
    return payload
