"""Every MongoDB query on categories."""

from shared.db import Database, Document

# Categories are few; the bound keeps a mistaken bulk insert from turning one read into a scan.
MAX_CATEGORIES = 1000


async def list_categories(db: Database) -> list[Document]:
    cursor = db.categories.find({}, {"slug": 1, "name": 1}).sort("slug", 1).limit(MAX_CATEGORIES)
    return await cursor.to_list()
