"""The collections the catalog service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, IndexModel

from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "categories": [IndexModel([("slug", ASCENDING)], unique=True, name="slug_unique")],
    "products": [IndexModel([("sku", ASCENDING)], unique=True, name="sku_unique")],
}
