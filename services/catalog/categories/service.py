"""Category use cases."""

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.catalog.categories import repository
from services.catalog.categories.errors import DuplicateSlug
from services.catalog.categories.schemas import Category, CategoryCreate
from shared.audit import Action, Caller, Target, audit
from shared.clock import utcnow
from shared.db import Database


async def list_categories(db: Database) -> list[Category]:
    """Every category, ordered by slug."""
    documents = await repository.list_categories(db)
    return [Category(id=str(doc["_id"]), slug=doc["slug"], name=doc["name"]) for doc in documents]


async def create_category(db: Database, data: CategoryCreate, caller: Caller | None = None) -> Category:
    """Add a category; its slug is unique."""
    doc = {"_id": ObjectId(), "slug": data.slug, "name": data.name, "created_at": utcnow()}
    try:
        await repository.insert_category(db, doc)
    except DuplicateKeyError:
        raise DuplicateSlug(f"A category with slug {data.slug!r} already exists.") from None
    after = {"slug": data.slug, "name": data.name}
    await audit(
        db,
        Action.CATEGORY_CREATED,
        caller or Caller.system("tool"),
        Target("category", data.slug),
        after=after,
    )
    return Category(id=str(doc["_id"]), slug=data.slug, name=data.name)
