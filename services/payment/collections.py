"""The collections the payment service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, IndexModel

from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "payments": [IndexModel([("order_id", ASCENDING)], name="order")],
    # The inbox: one document per provider event, so a duplicated webhook is recognised and ignored.
    "provider_events": [
        IndexModel(
            [("provider", ASCENDING), ("event_id", ASCENDING)], unique=True, name="provider_event_unique"
        )
    ],
}
