"""The payment service's outbox events (`payment_outbox`), written in the settling transaction.

Payment events (PaymentSucceeded, PaymentFailed, PaymentCancelled, PaymentCaptureMismatch) and
refund events (RefundIssued, RefundFailed) both name the payment and its order, and every amount
comes with its currency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.db import Document
from shared.outbox import outbox_event


def payment_event(kind: str, payment: Document, now: datetime, **extra: Any) -> Document:
    return outbox_event(
        kind,
        now,
        payment_id=payment["_id"],
        order_id=payment["order_id"],
        amount=payment["amount"],
        currency=payment["currency"],
        **extra,
    )


def refund_event(kind: str, refund: Document, now: datetime) -> Document:
    """`external`: a refund made at the provider, not by the shop."""
    return outbox_event(
        kind,
        now,
        refund_id=refund["_id"],
        payment_id=refund["payment_id"],
        order_id=refund["order_id"],
        amount=refund["amount"],
        currency=refund["currency"],
        external=bool(refund.get("external")),
    )
