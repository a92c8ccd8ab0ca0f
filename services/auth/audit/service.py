"""Reading the audit trail: newest first, filtered, in keyset pages (admins only, see router.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from services.auth.audit import repository
from services.auth.audit.errors import InvalidAuditCursor
from services.auth.audit.schemas import AuditActor, AuditPage, AuditRecord, AuditTarget
from shared import cursors
from shared.audit import Action, Outcome
from shared.db import Database, Document


@dataclass(frozen=True)
class AuditFilters:
    limit: int
    cursor: str | None = None
    actor: str | None = None
    action: Action | None = None
    outcome: Outcome | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def to_record(doc: Document) -> AuditRecord:
    return AuditRecord(
        id=str(doc["_id"]),
        at=doc["at"],
        action=doc["action"],
        outcome=doc["outcome"],
        actor=AuditActor(**doc["actor"]),
        target=AuditTarget(**doc["target"]),
        client_ip=doc.get("client_ip"),
        request_id=doc.get("request_id"),
        trace_id=doc.get("trace_id"),
        before=doc.get("before"),
        after=doc.get("after"),
        details=doc.get("details"),
    )


def audit_query(filters: AuditFilters) -> Document:
    """The MongoDB filter of a listing: each value only ever an equality or a typed comparison."""
    query: Document = {}
    if filters.actor is not None:
        query["actor.id"] = filters.actor
    if filters.action is not None:
        query["action"] = filters.action.value
    if filters.outcome is not None:
        query["outcome"] = filters.outcome.value
    if filters.target_type is not None:
        query["target.type"] = filters.target_type
    if filters.target_id is not None:
        query["target.id"] = filters.target_id
    at: Document = {}
    if filters.since is not None:
        at["$gte"] = filters.since
    if filters.until is not None:
        at["$lt"] = filters.until
    if at:
        query["at"] = at
    if filters.cursor is not None:
        last_at, last_id = _position(filters.cursor)
        query["$or"] = [{"at": {"$lt": last_at}}, {"at": last_at, "_id": {"$lt": last_id}}]
    return query


async def list_audit(db: Database, filters: AuditFilters) -> AuditPage:
    """One page of the trail, newest first, and the cursor of the next."""
    docs = await repository.list_records(db, audit_query(filters), filters.limit + 1)
    page = docs[: filters.limit]
    next_cursor = None
    if len(docs) > filters.limit:
        next_cursor = cursors.encode({"t": page[-1]["at"].isoformat(), "i": str(page[-1]["_id"])})
    return AuditPage(items=[to_record(doc) for doc in page], next_cursor=next_cursor)


def _position(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        payload = cursors.decode(cursor)
        if not isinstance(payload.get("t"), str) or not ObjectId.is_valid(payload.get("i")):
            raise ValueError("not an audit cursor")
        at = datetime.fromisoformat(payload["t"])
        if at.tzinfo is None:
            raise ValueError("not an audit cursor")
        return at, ObjectId(payload["i"])
    except (ValueError, TypeError):
        raise InvalidAuditCursor("The cursor is malformed; start again without it.") from None
