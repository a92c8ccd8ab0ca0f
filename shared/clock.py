"""Time as MongoDB stores it: UTC, to the millisecond, so what is written equals what is read back."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
