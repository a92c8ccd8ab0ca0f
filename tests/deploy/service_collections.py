"""The collections each service creates at start-up, as its own code declares them."""

from __future__ import annotations

from services.auth.collections import COLLECTIONS as AUTH
from services.catalog.collections import COLLECTIONS as CATALOG
from services.order.collections import collections as order_collections
from services.payment.collections import COLLECTIONS as PAYMENT
from shared.db import CollectionIndexes

SERVICE_COLLECTIONS: dict[str, CollectionIndexes] = {
    "auth": AUTH,
    "catalog": CATALOG,
    "order": order_collections(86_400),
    "payment": PAYMENT,
}
