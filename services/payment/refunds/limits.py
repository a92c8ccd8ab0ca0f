"""The pure rules of refunds: what a payment captured, what is still refundable, which units may go
back, and what a refund that names only lines comes to. Reservation (reservation.py) applies them to
the payment and order as read in its transaction, and holds what they allow.
"""

from __future__ import annotations

from services.payment.refunds.errors import RestockExceedsSold
from shared.contracts.orders import restockable
from shared.db import Document

# Payment statuses with captured money not all given back.
REFUNDABLE_PAYMENT = ("succeeded", "partially_refunded")


def captured(payment: Document) -> int:
    """What a payment captured: the provider's own figure, which differs from `amount` only for a
    capture that did not match (payments stored before it was recorded captured their `amount`)."""
    amount = payment.get("captured_amount")
    return int(payment["amount"] if amount is None else amount)


def captured_currency(payment: Document) -> str:
    """The currency the provider holds the money in (a refund gives it back in that currency)."""
    return str(payment.get("captured_currency") or payment["currency"])


def refundable_amount(payment: Document) -> int:
    """What was captured (the provider's figure) and is neither refunded nor being refunded."""
    return int(
        captured(payment) - payment.get("refunded_amount", 0) - payment.get("refund_pending_amount", 0)
    )


def amount_asked(amount: int | None, lines: list[Document], order: Document | None, left: int) -> int:
    """A refund's amount: as asked; else the named lines at their unit prices; else all that is left."""
    if amount is not None:
        return amount
    if lines and order is not None:
        prices = {line["product_id"]: line["unit_price"]["amount"] for line in order["items"]}
        return sum(prices.get(line["product_id"], 0) * line["quantity"] for line in lines)
    return left


def check_restockable(order: Document | None, lines: list[Document]) -> None:
    """Each line returns at most the units sold through this payment and not yet returned or held."""
    sold = {line["product_id"]: line for line in order["items"]} if order is not None else {}
    problems = []
    for line in lines:
        ordered = sold.get(line["product_id"])
        left = 0 if ordered is None else restockable(ordered)
        if line["quantity"] > left:
            problems.append(
                {"product_id": str(line["product_id"]), "requested": line["quantity"], "restockable": left}
            )
    if not problems:
        return
    if order is None:
        raise RestockExceedsSold(
            "This payment holds no units of its order: the order was closed (and its stock returned) "
            "or paid by another payment. Refund money only.",
            lines=problems,
        )
    raise RestockExceedsSold(
        "Some lines return more units than were sold and not yet returned.", lines=problems
    )
