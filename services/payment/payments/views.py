"""Payment documents as clients see them."""

from __future__ import annotations

from services.payment.payments.schemas import Payment, PaymentHistoryEntry
from shared.db import Document
from shared.money import Money, MoneyOut


def to_payment(doc: Document, *, admin: bool = False) -> Payment:
    """`admin`: the caller may see why the payment needs a person."""
    captured_currency = doc.get("captured_currency") or doc["currency"]
    captured = None
    if doc.get("captured_currency") or doc["status"] in ("succeeded", "partially_refunded", "refunded"):
        captured = MoneyOut(amount=doc.get("captured_amount", doc["amount"]), currency=captured_currency)
    reasons = doc.get("attention_reasons") or ([doc["attention"]] if doc.get("attention") else [])
    return Payment(
        id=str(doc["_id"]),
        order_id=str(doc["order_id"]),
        provider=doc["provider"],
        status=doc["status"],
        amount=Money(amount=doc["amount"], currency=doc["currency"]),
        captured=captured,
        refunded=MoneyOut(amount=doc.get("refunded_amount", 0), currency=captured_currency),
        attention=reasons if admin else None,
        client_secret=doc.get("client_secret"),
        redirect_url=doc.get("redirect_url"),
        failure_reason=doc.get("failure_reason"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        history=[PaymentHistoryEntry(**entry) for entry in doc.get("history", [])],
    )
