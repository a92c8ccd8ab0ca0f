"""Payment documents as clients see them."""

from __future__ import annotations

from services.payment.payments.schemas import Payment, PaymentHistoryEntry
from shared.db import Document
from shared.money import Money


def to_payment(doc: Document) -> Payment:
    return Payment(
        id=str(doc["_id"]),
        order_id=str(doc["order_id"]),
        provider=doc["provider"],
        status=doc["status"],
        amount=Money(amount=doc["amount"], currency=doc["currency"]),
        refunded=Money(amount=doc.get("refunded_amount", 0), currency=doc["currency"]),
        client_secret=doc.get("client_secret"),
        redirect_url=doc.get("redirect_url"),
        failure_reason=doc.get("failure_reason"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        history=[PaymentHistoryEntry(**entry) for entry in doc.get("history", [])],
    )
