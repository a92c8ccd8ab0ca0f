"""Product use cases."""

from services.catalog.products import repository
from services.catalog.products.errors import ProductNotFound
from services.catalog.products.schemas import Money, Product
from shared.db import Database, Document
from shared.ids import to_object_id


def to_product(doc: Document) -> Product:
    return Product(
        id=str(doc["_id"]),
        sku=doc["sku"],
        name=doc["name"],
        description=doc.get("description", ""),
        price=Money(**doc["price"]),
        stock=doc["stock"],
        category=doc.get("category"),
        active=doc.get("active", True),
    )


async def get_product(db: Database, product_id: str) -> Product:
    """One product by id, or ProductNotFound."""
    doc = await repository.find_product(db, to_object_id(product_id))
    if doc is None:
        raise ProductNotFound(f"No product with id {product_id}.")
    return to_product(doc)
