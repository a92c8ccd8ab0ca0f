"""Errors of the orders domain."""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    slug, title = "order-not-found", "Order not found"


class InsufficientStock(Conflict):
    """Names every short line with what is available, so the client can adjust in one go."""

    slug, title = "insufficient-stock", "Not enough stock"

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__("Some lines ask for more than is in stock; nothing was ordered.", lines=lines)


class IllegalTransition(Conflict):
    slug, title = "illegal-transition", "The order cannot move to that status now"


class UnknownProducts(ValidationFailed):
    slug, title = "unknown-product", "Some products do not exist"


class InactiveProducts(ValidationFailed):
    slug, title = "product-inactive", "A product can no longer be ordered"


class MixedCurrencies(ValidationFailed):
    slug, title = "mixed-currencies", "One order must be in one currency"


class EmptyCart(ValidationFailed):
    slug, title = "empty-cart", "The cart is empty"


class InvalidOrderCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The cursor is not valid for this listing"


class TotalTooLarge(ValidationFailed):
    """A line, cart or order would come to more than any amount may be (shared.money.MAX_AMOUNT)."""

    slug, title = "total-too-large", "The total is above what one order may come to"


class ZeroTotal(ValidationFailed):
    """An order of nothing to pay: no provider takes 0, so it could never be paid."""

    slug, title = "zero-total", "The order comes to nothing"


# Fair stock. 409, not 429: waiting does not help, the customer's own unpaid orders are in the way
# (pay or cancel one and the same request succeeds); a 429 is for requests sent too fast.
class OpenOrdersLimit(Conflict):
    """`limit`: unpaid orders a customer may have open; `held`: how many they have."""

    slug, title = "open-orders-limit", "Too many unpaid orders"


class HeldUnitsLimit(Conflict):
    """`limit`: units of one product a customer's unpaid orders may hold; `lines`: each product over it,
    with the units already `held` in unpaid orders and the units `requested` now."""

    slug, title = "held-units-limit", "Too many units of a product held in unpaid orders"
