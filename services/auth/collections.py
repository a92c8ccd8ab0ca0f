"""The collections the auth service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, IndexModel

from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "users": [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")],
}
