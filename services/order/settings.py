"""Settings of the order service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from shared.money import MAX_LINE_QUANTITY, MAX_LINES
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
    # Bounds of one order and one cart; the request schemas hold the hard ceilings (shared.money).
    max_order_lines: int = Field(default=50, ge=1, le=MAX_LINES)
    max_line_quantity: int = Field(default=10, ge=1, le=MAX_LINE_QUANTITY)
    max_cart_items: int = Field(default=50, ge=1, le=MAX_LINES)

    # Fair stock: an unpaid order holds its units until it is paid, cancelled or expires, so without
    # limits one customer could keep a product out of stock for everyone by ordering and never paying
    # (and cancelling and re-ordering before expiry). Only `pending_payment` orders count: paying is
    # the real commitment and frees the holder's allowance.
    # Unpaid orders one customer may have open at once.
    order_max_open_per_customer: int = Field(default=5, ge=1, le=1000)
    # Units of one product one customer's unpaid orders may hold together. Ten covers what a household
    # buys of one item, while a flash sale of 100 units needs ten accounts (each behind registration,
    # rate limits and CAPTCHA) to be cornered, and a cancel-and-reorder loop holds ten units, not the
    # shelf. Shops selling in bulk raise it (and MAX_LINE_QUANTITY, which is no use above it).
    order_max_units_per_product: int = Field(default=10, ge=1, le=MAX_LINE_QUANTITY * MAX_LINES)


@lru_cache
def get_settings() -> OrderSettings:
    return settings_or_exit(OrderSettings)
