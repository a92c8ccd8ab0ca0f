"""Every MongoDB query on categories."""

from shared.db import Database, Document

# Categories are few; the bound keeps a mistaken bulk insert from turning one read into a scan.
MAX_CATEGORIES = 1000


async def list_categories(db: Database) -> list[Document]:
    cursor = db.categories.find({}, {"slug": 1, "name": 1}).sort("slug", 1).limit(MAX_CATEGORIES)
    return await cursor.to_list()


async def insert_category(db: Database, category: Document) -> None:
    """Insert a category; the unique slug index raises DuplicateKeyError for a taken slug."""
    await db.categories.insert_one(category)


async def category_exists(db: Database, slug: str) -> bool:
    return await db.categories.count_documents({"slug": slug}, limit=1) > 0
