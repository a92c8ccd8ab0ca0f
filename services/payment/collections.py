"""The collections the payment service owns, with their indexes (created at start-up).

It also changes `orders` (paid; a refund's money status and line counters) and `products.stock`
(refunded units), always in the transaction that records the provider's confirmation, through its
one adapter (services/payment/orders/repository.py; docs/architecture.md, "The crossings").
"""

from pymongo import ASCENDING, DESCENDING, IndexModel

from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "payments": [
        IndexModel([("order_id", ASCENDING)], name="order"),
        IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="user_newest"),
        IndexModel(
            [("provider", ASCENDING), ("provider_payment_id", ASCENDING)],
            unique=True,
            partialFilterExpression={"provider_payment_id": {"$type": "string"}},
            name="provider_payment_unique",
        ),
        # Reconciliation: pending payments whose next check is due.
        IndexModel([("status", ASCENDING), ("next_check_at", ASCENDING)], name="status_next_check"),
        IndexModel(
            [("user_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True, name="user_key_unique"
        ),
        # Reconciliation: payments for closed orders whose automatic refund is not complete yet
        # (when the next try is due; since when they are owed, for the overdue alarm).
        IndexModel([("auto_refund_next_at", ASCENDING)], sparse=True, name="auto_refund_next"),
        IndexModel([("auto_refund_due_since", ASCENDING)], sparse=True, name="auto_refund_due"),
    ],
    # One counter per order (_id = the order's id): how many provider payments it started. Every
    # attempt writes it, which serialises an order's attempts (payments/attempts.py).
    "payment_attempts": [],
    # The inbox: one document per provider event, so a duplicate is recognised and ignored.
    "provider_events": [
        IndexModel(
            [("provider", ASCENDING), ("event_id", ASCENDING)], unique=True, name="provider_event_unique"
        )
    ],
    "refunds": [
        IndexModel([("payment_id", ASCENDING), ("created_at", ASCENDING)], name="payment"),
        IndexModel(
            [("payment_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True, name="key_unique"
        ),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_age"),
    ],
    # Events for consumers (PaymentSucceeded, RefundIssued, ...), written in the settling transaction.
    "payment_outbox": [
        IndexModel([("published_at", ASCENDING), ("created_at", ASCENDING)], name="unpublished")
    ],
    # The sandbox provider's own ledger (what a real provider would keep on its side).
    "sandbox_ledger": [],
}
