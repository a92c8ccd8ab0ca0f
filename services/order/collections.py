"""The collections the order service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "carts": [IndexModel([("user_id", ASCENDING)], unique=True, name="user_unique")],
    "orders": [
        IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="user_newest"),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expiry"),
    ],
}
