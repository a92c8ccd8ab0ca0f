"""The collections the catalog service owns, with their indexes (created at start-up).

Every listing query is served by one of these (docs/catalog-indexes.md says which): equality
filters (`active`, `category`) first, then the sort key, then `_id` as the tie-breaker the cursor
continues from.
"""

from pymongo import ASCENDING, DESCENDING, IndexModel

from shared.db import CollectionIndexes

NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]
BY_PRICE = [("price.amount", ASCENDING), ("_id", ASCENDING)]
BY_NAME = [("name_key", ASCENDING), ("_id", ASCENDING)]
ACTIVE = [("active", ASCENDING)]
IN_CATEGORY = [("active", ASCENDING), ("category", ASCENDING)]

COLLECTIONS: CollectionIndexes = {
    "categories": [IndexModel([("slug", ASCENDING)], unique=True, name="slug_unique")],
    "products": [
        IndexModel([("sku", ASCENDING)], unique=True, name="sku_unique"),
        IndexModel(ACTIVE + NEWEST, name="active_newest"),
        IndexModel(IN_CATEGORY + NEWEST, name="category_newest"),
        IndexModel(ACTIVE + BY_PRICE, name="active_price"),
        IndexModel(IN_CATEGORY + BY_PRICE, name="category_price"),
        IndexModel(ACTIVE + BY_NAME, name="active_name"),
        IndexModel(IN_CATEGORY + BY_NAME, name="category_name"),
        # Text search without text indexes (the embedded server has none): a multikey index over
        # normalised tokens, matched exactly or by an anchored, escaped prefix.
        IndexModel([("search_terms", ASCENDING), *ACTIVE, *NEWEST], name="search_newest"),
    ],
    "stock_adjustments": [
        IndexModel([("product_id", ASCENDING), ("at", DESCENDING)], name="product_history")
    ],
}
