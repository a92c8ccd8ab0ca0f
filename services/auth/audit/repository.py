"""Every MongoDB query on the audit trail: reads only (services append through shared/audit.py)."""

from __future__ import annotations

from shared.audit import AUDIT_COLLECTION
from shared.db import Database, Document

# Newest first; the id breaks ties between records of one millisecond, so pages never overlap.
NEWEST_FIRST = [("at", -1), ("_id", -1)]


async def list_records(db: Database, query: Document, limit: int) -> list[Document]:
    return await db[AUDIT_COLLECTION].find(query).sort(NEWEST_FIRST).limit(limit).to_list()


async def latest(db: Database, action: str) -> Document | None:
    """The newest record of one action."""
    return await db[AUDIT_COLLECTION].find_one({"action": action}, sort=NEWEST_FIRST)
