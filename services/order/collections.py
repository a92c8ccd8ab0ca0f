"""The collections the order service owns, with their indexes (created at start-up).

It also writes `products.stock` (owned by catalog): the one designed exception, always inside
the same transaction as the order change that sells or returns the units (shared/stock.py,
docs/architecture.md).
"""

from pymongo import ASCENDING, DESCENDING, IndexModel

from shared.db import CollectionIndexes

NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def collections(idempotency_ttl_seconds: int) -> CollectionIndexes:
    return {
        "carts": [],  # keyed by user id
        # One per customer (keyed by user id), written by each of their checkouts so that two of them
        # cannot both pass the fair-stock limits on the same snapshot (orders/holds.py).
        "checkout_guards": [],
        "orders": [
            IndexModel([("user_id", ASCENDING), *NEWEST], name="user_newest"),
            IndexModel([("status", ASCENDING), *NEWEST], name="status_newest"),
            # Admins' "what to ship" listing (fulfilment_status=paid); also the start-up migration's
            # search for orders without the field.
            IndexModel([("fulfilment_status", ASCENDING), *NEWEST], name="fulfilment_newest"),
            IndexModel(NEWEST, name="newest"),
            IndexModel([("user_id", ASCENDING), ("status", ASCENDING), *NEWEST], name="user_status_newest"),
            # The reaper's query: unpaid orders past their deadline.
            IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expiry"),
        ],
        # One per (user, key); kept at least a day (TTL), so a retried checkout has its effect once.
        "idempotency_keys": [
            IndexModel([("user_id", ASCENDING), ("key", ASCENDING)], unique=True, name="user_key_unique"),
            IndexModel(
                [("created_at", ASCENDING)], expireAfterSeconds=idempotency_ttl_seconds, name="expire"
            ),
        ],
        # Events for the payment service and future consumers, written in the same transaction.
        "outbox": [
            IndexModel([("published_at", ASCENDING), ("created_at", ASCENDING)], name="unpublished"),
            IndexModel([("aggregate_id", ASCENDING), ("created_at", ASCENDING)], name="by_order"),
            # The payment service's reconciler reads recent OrderCancelled/OrderExpired events, to
            # withdraw the pending provider payments of closed orders.
            IndexModel([("type", ASCENDING), ("created_at", ASCENDING)], name="type_recent"),
        ],
    }
