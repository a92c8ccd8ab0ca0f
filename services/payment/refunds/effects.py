"""What a booked refund changes beside the refund itself: its order's money status, and the event
for consumers. Shared by our refunds (booking.py) and those made at the provider (external.py)."""

from __future__ import annotations

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.refunds import repository
from shared.clock import utcnow
from shared.db import Document
from shared.order_states import MoneyStatus


async def book_money(ctx: PaymentContext, payment: Document, actor: str, session: AsyncClientSession) -> None:
    """The order's money status after a refund of this payment: refunded once all of it is back."""
    money = MoneyStatus.REFUNDED if payment["status"] == "refunded" else MoneyStatus.PARTIALLY_REFUNDED
    await repository.book_money_on_order(
        ctx.db, payment["order_id"], payment["_id"], money, actor, utcnow(), session
    )


def refund_outbox(refund: Document, kind: str) -> Document:
    """A refund event for consumers (RefundIssued, RefundFailed), with its amount's currency."""
    return {
        "_id": ObjectId(),
        "type": kind,
        "refund_id": refund["_id"],
        "payment_id": refund["payment_id"],
        "order_id": refund["order_id"],
        "amount": refund["amount"],
        "currency": refund["currency"],
        "external": bool(refund.get("external")),
        "created_at": utcnow(),
        "published_at": None,
    }
