"""Every MongoDB query on products."""

from bson import ObjectId

from shared.db import Database, Document


async def find_product(db: Database, product_id: ObjectId) -> Document | None:
    return await db.products.find_one({"_id": product_id})
