"""Settings of the order service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from shared.settings import CommonSettings, settings_or_exit


class OrderSettings(CommonSettings):
    service_name: ClassVar[str] = "order"

    # Time a customer has to pay before the order expires and its stock returns.
    order_payment_ttl_seconds: int = Field(default=900, ge=1)
    # How often the reaper looks for overdue unpaid orders (each replica runs one).
    order_expiry_sweep_seconds: float = Field(default=30.0, gt=0)
    # Orders the reaper expires per sweep at most (the rest wait for the next sweep).
    order_expiry_batch_size: int = Field(default=200, ge=1)
    # How long an Idempotency-Key is remembered; at least a day, so a client retrying late is safe.
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=24 * 3600)
    max_order_lines: int = Field(default=50, ge=1, le=500)
    max_line_quantity: int = Field(default=1000, ge=1)
    max_cart_items: int = Field(default=50, ge=1, le=500)


@lru_cache
def get_settings() -> OrderSettings:
    return settings_or_exit(OrderSettings)
