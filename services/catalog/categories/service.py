"""Category use cases."""

from services.catalog.categories import repository
from services.catalog.categories.schemas import Category
from shared.db import Database


async def list_categories(db: Database) -> list[Category]:
    """Every category, ordered by slug."""
    documents = await repository.list_categories(db)
    return [Category(id=str(doc["_id"]), slug=doc["slug"], name=doc["name"]) for doc in documents]
