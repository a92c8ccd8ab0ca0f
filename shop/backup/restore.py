"""`shop restore`: a verified backup into an empty database (or over its own collections with --drop).

On MongoDB the documents go in first and the indexes are built after, once (as mongorestore does:
faster than maintaining them on every insert). The embedded server is the other way round: it
builds an index over existing documents one commit at a time, so with its fsync on every commit
(the local stack's setting) 100,000 products took over nine minutes to index after the insert,
against about a minute and a half with the indexes maintained while inserting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.errors import PyMongoError

from shared.db import Database, MongoClient
from shared.mongodb_url import where
from shop.backup.verify import VerifiedBackup
from shop.console import OperatorError, Progress
from shop.database import describe_failure

INSERT_BATCH = 1000
INSERT_BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class RestoredCollection:
    documents: int
    indexes: list[str]


@dataclass
class RestoreResult:
    database: str
    collections: dict[str, RestoredCollection] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    seconds: float = 0.0
    index_seconds: float = 0.0  # of `seconds`, building the indexes after the documents (MongoDB)

    @property
    def documents(self) -> int:
        return sum(entry.documents for entry in self.collections.values())


async def non_empty_collections(db: Database) -> list[str]:
    names = []
    for name in sorted(await db.list_collection_names()):
        if not name.startswith("system.") and await db[name].find_one({}, {"_id": 1}) is not None:
            names.append(name)
    return names


async def check_target(db: Database, backup: VerifiedBackup, *, drop: bool, where: str) -> list[str]:
    """The collections restore will replace; OperatorError when the target holds data and --drop is absent."""
    holding = await non_empty_collections(db)
    if holding and not drop:
        shown = ", ".join(holding[:5]) + (", ..." if len(holding) > 5 else "")
        raise OperatorError(
            f"database {db.name!r} on {where} is not empty ({shown} hold documents): restore into an empty "
            "database, or pass --drop to replace the backup's collections; nothing was written"
        )
    existing = set(await db.list_collection_names())
    return sorted(existing & set(backup.manifest.collections))


async def restore_backup(
    client: MongoClient,
    url: str,
    backup: VerifiedBackup,
    database: str,
    *,
    drop: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    started = time.monotonic()
    db = client[database]
    result = RestoreResult(database)
    current = "(checking the target)"
    restored = 0
    try:
        indexes_first = bool((await client.admin.command("buildInfo")).get("secantusVersion"))
        replaced = await check_target(db, backup, drop=drop, where=where(url))
        result.left_alone = sorted(set(await db.list_collection_names()) - set(backup.manifest.collections))
        if progress:
            progress.total = sum(entry.count for entry in backup.manifest.collections.values())
        for name in sorted(backup.manifest.collections):
            current, restored = name, 0
            if name in replaced:
                await db.drop_collection(name)
                result.dropped.append(name)
            metadata = backup.metadata[name]
            await db.create_collection(name, **metadata.get("options", {}))
            if indexes_first:
                indexes = await _create_indexes(db, name, metadata.get("indexes", []))
            restored = await _insert_documents(db, name, backup.documents(name), progress)
            if not indexes_first:
                building = time.monotonic()
                indexes = await _create_indexes(db, name, metadata.get("indexes", []))
                result.index_seconds += time.monotonic() - building
            result.collections[name] = RestoredCollection(restored, indexes)
    except PyMongoError as exc:
        raise OperatorError(
            f"restore failed in collection {current!r} after {restored} documents: "
            f"{describe_failure(exc, url)}; database {database!r} is partly written: "
            "restore again with --drop, or drop it"
        ) from None
    result.seconds = time.monotonic() - started
    return result


def _batches(documents: Iterator[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for raw in documents:
        batch.append(raw)
        size += len(raw)
        if len(batch) >= INSERT_BATCH or size >= INSERT_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


async def _insert_documents(
    db: Database, name: str, documents: Iterator[bytes], progress: Progress | None
) -> int:
    """Insert in batches; the next batch is decompressed in a thread while the current one is written."""
    batches = _batches(documents)
    collection = db.get_collection(name)
    count = 0
    upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await upcoming) is not None:
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            await collection.insert_many(
                [RawBSONDocument(raw) for raw in batch], bypass_document_validation=True
            )
            count += len(batch)
            if progress:
                progress.advance(len(batch), sum(len(raw) for raw in batch), label=name)
    finally:
        # A failed insert leaves the next batch being read in its thread: let it finish first.
        await asyncio.wait([upcoming])
    return count


async def _create_indexes(db: Database, name: str, specs: list[dict[str, Any]]) -> list[str]:
    wanted = [
        {k: v for k, v in spec.items() if k not in ("ns", "v")}
        for spec in specs
        if spec.get("name") != "_id_"
    ]
    if wanted:
        await db.command({"createIndexes": name, "indexes": wanted})
    return [spec["name"] for spec in specs]
