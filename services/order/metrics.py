"""The order service's business metrics (docs/observability.md): orders placed, cancelled and
expired, and the outcome of every checkout. Hooks are one call each from the use cases' callers."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal, TypeVar

from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.order.orders.errors import HeldUnitsLimit, InsufficientStock, OpenOrdersLimit
from shared.errors import AppError
from shared.idempotency import Once
from shared.metrics import PROCESS_REGISTRY

T = TypeVar("T")

CheckoutOutcome = Literal[
    "placed",
    "idempotent_replay",
    "insufficient_stock",
    "open_orders_limit",
    "held_units_limit",
    "rejected",
    "transaction_timeout",
    "error",
]

PLACED = Counter(
    "orders_placed_total",
    "Orders created (a replayed checkout is not counted again).",
    registry=PROCESS_REGISTRY,
)
CANCELLED = Counter(
    "orders_cancelled_total",
    "Unpaid orders cancelled, by whom (customer, admin).",
    ["by"],
    registry=PROCESS_REGISTRY,
)
EXPIRED = Counter(
    "orders_expired_total",
    "Unpaid orders the reaper expired, their stock returned.",
    registry=PROCESS_REGISTRY,
)
CHECKOUTS = Counter(
    "checkout_outcomes_total",
    "Every checkout (POST /api/v1/orders) by outcome.",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)


async def checkout(placing: Awaitable[Once[T]]) -> Once[T]:
    """Await a checkout and count its outcome (the answer or the error passes unchanged)."""
    try:
        placed = await placing
    except BaseException as error:
        CHECKOUTS.labels(checkout_failure(error)).inc()
        raise
    if placed.replayed:
        CHECKOUTS.labels("idempotent_replay").inc()
    else:
        CHECKOUTS.labels("placed").inc()
        PLACED.inc()
    return placed


def checkout_failure(error: BaseException) -> CheckoutOutcome:
    if isinstance(error, InsufficientStock):
        return "insufficient_stock"
    if isinstance(error, OpenOrdersLimit):
        return "open_orders_limit"
    if isinstance(error, HeldUnitsLimit):
        return "held_units_limit"
    if isinstance(error, TimeoutError) or (isinstance(error, PyMongoError) and error.timeout):
        return "transaction_timeout"
    if isinstance(error, AppError) and error.status < 500:
        return "rejected"
    return "error"


def cancelled(*, by_admin: bool) -> None:
    CANCELLED.labels("admin" if by_admin else "customer").inc()


def expired(count: int) -> None:
    if count:
        EXPIRED.inc(count)
