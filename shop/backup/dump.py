"""`shop backup`: every collection of the database as of one point in time, into a new directory.

The backup is written under a hidden temporary name inside the target folder and renamed to
`shop-<UTC time>` only after every file and the manifest are on disk (fsync), so a backup cut short
(full disk, killed process) never looks valid; a failure removes what it wrote.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import PyMongoError

from shared.clock import utcnow
from shared.db import Database, Document, MongoClient
from shop.backup.crypto import ALGORITHM, CHUNK_BYTES, KDF, BackupKey
from shop.backup.files import FileSink, write_file
from shop.backup.format import (
    BSON_SUFFIX,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    METADATA_SUFFIX,
    PARTIAL_PREFIX,
    CollectionEntry,
    Encryption,
    FileEntry,
    Manifest,
    backup_name,
)
from shop.backup.snapshot import Method, Snapshot, choose_method, snapshot_of
from shop.console import OperatorError, Progress
from shop.database import describe_failure, server_description

RAW = CodecOptions(document_class=RawBSONDocument)
TOOL = "shop 1"
# Documents are handed to the compressing thread in blocks of about this size.
BLOCK_BYTES = 4 * 1024 * 1024
BATCH_SIZE = 2000

# Called with a collection's name before it is read (tests use it to write while the backup runs).
BeforeCollection = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    seconds: float

    @property
    def documents(self) -> int:
        return sum(entry.count for entry in self.manifest.collections.values())

    @property
    def stored_bytes(self) -> int:
        return sum(entry.size for entry in self.manifest.files.values())


def prepare_root(root: Path) -> Path:
    """The folder backups go into, created if needed; refused when it is itself a backup or not writable."""
    if (root / MANIFEST).exists():
        raise OperatorError(
            f"{root} already holds a backup ({MANIFEST}); give the folder that holds backups instead"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root))
    except OSError as exc:
        raise OperatorError(f"cannot write to {root}: {exc.strerror or exc}") from None


async def take_backup(
    client: MongoClient,
    url: str,
    database: str,
    root: Path,
    *,
    key: BackupKey | None = None,
    consistency: str = "auto",
    progress: Progress | None = None,
    before_collection: BeforeCollection | None = None,
) -> BackupResult:
    started = asyncio.get_running_loop().time()
    db = client[database]
    try:
        method = await choose_method(client, consistency)
        server = await server_description(client)
    except PyMongoError as exc:
        raise OperatorError(describe_failure(exc, url)) from None
    work = prepare_root(root)
    try:
        manifest = await _write_backup(
            client, db, url, work, method, server, key, progress, before_collection
        )
        final = root / backup_name(manifest.created_at)
        os.rename(work, final)  # atomic; fails rather than replacing an existing backup
        _fsync_directory(root)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        where = f" ({exc.filename})" if exc.filename else ""
        raise OperatorError(
            f"cannot write the backup: {exc.strerror or exc}{where}; nothing was kept"
        ) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return BackupResult(final, manifest, asyncio.get_running_loop().time() - started)


async def _write_backup(
    client: MongoClient,
    db: Database,
    url: str,
    work: Path,
    method: Method,
    server: Document,
    key: BackupKey | None,
    progress: Progress | None,
    before_collection: BeforeCollection | None,
) -> Manifest:
    (work / db.name).mkdir()
    files: dict[str, FileEntry] = {}
    collections: dict[str, CollectionEntry] = {}
    skipped: list[str] = []
    async with snapshot_of(client, db, method, url) as snapshot:
        # listCollections cannot run in a transaction or at a snapshot: the list is taken after the
        # snapshot is pinned, so it holds every collection the snapshot can see.
        infos = [info async for info in await db.list_collections()]
        wanted = sorted((info for info in infos if _is_data(info)), key=lambda info: info["name"])
        skipped = sorted(info["name"] for info in infos if not _is_data(info))
        if progress:
            progress.total = sum([await db[info["name"]].estimated_document_count() for info in wanted])
        for info in wanted:
            name = info["name"]
            if before_collection:
                await before_collection(name)
            indexes = await _index_specs(db, name)
            entry, bson_file = await _dump_collection(db, name, snapshot, work, key, progress)
            metadata = _metadata(name, info, indexes)
            relative = _relative(db.name, name, METADATA_SUFFIX, key)
            files[relative] = await asyncio.to_thread(write_file, work / relative, relative, metadata, key)
            files[_relative(db.name, name, BSON_SUFFIX, key)] = bson_file
            collections[name] = CollectionEntry(count=entry[0], bson_bytes=entry[1], indexes=len(indexes))
    manifest = Manifest(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        tool=TOOL,
        created_at=snapshot.opened_at,
        finished_at=utcnow(),
        database=db.name,
        server=server,
        consistency=snapshot.consistency(),
        compression="gzip",
        encryption=Encryption(algorithm=ALGORITHM, kdf=KDF, key_id=key.key_id, chunk_bytes=CHUNK_BYTES)
        if key
        else None,
        collections=collections,
        files=files,
        skipped=skipped,
    )
    await asyncio.to_thread(_write_manifest, work, manifest)
    return manifest


def _is_data(info: Mapping[str, Any]) -> bool:
    """Plain collections are backed up; views, time series and system collections are listed as skipped."""
    return info.get("type", "collection") == "collection" and not info["name"].startswith("system.")


def _relative(database: str, collection: str, suffix: str, key: BackupKey | None) -> str:
    return f"{database}/{collection}{suffix}{'.enc' if key else ''}"


async def _index_specs(db: Database, name: str) -> list[Document]:
    specs = []
    async for spec in await db[name].list_indexes():
        spec = dict(spec)
        spec.pop("ns", None)
        specs.append(spec)
    return specs


def _metadata(name: str, info: Mapping[str, Any], indexes: list[Document]) -> bytes:
    """The collection's `.metadata.json` as mongodump writes it (canonical extended JSON)."""
    metadata: Document = {"options": info.get("options", {}), "indexes": indexes, "collectionName": name}
    uuid = info.get("info", {}).get("uuid")
    if uuid is not None:
        metadata["uuid"] = uuid.hex() if isinstance(uuid, bytes) else getattr(uuid, "hex", str(uuid))
    metadata["type"] = "collection"
    return json_util.dumps(metadata, json_options=json_util.CANONICAL_JSON_OPTIONS).encode()


async def _dump_collection(
    db: Database, name: str, snapshot: Snapshot, work: Path, key: BackupKey | None, progress: Progress | None
) -> tuple[tuple[int, int], FileEntry]:
    """Stream the collection's documents at the snapshot into its `.bson.gz`; (count, BSON bytes), entry."""
    relative = _relative(db.name, name, BSON_SUFFIX, key)
    sink = FileSink(work / relative, relative, key)
    count = size = 0
    block: list[bytes] = []
    block_bytes = 0
    writing: asyncio.Future[None] | None = None
    try:
        cursor = db.get_collection(name, codec_options=RAW).find(
            {}, session=snapshot.session, batch_size=BATCH_SIZE
        )
        async for document in cursor:
            raw = bytes(cast(RawBSONDocument, document).raw)
            block.append(raw)
            block_bytes += len(raw)
            count += 1
            if block_bytes >= BLOCK_BYTES:
                # Compress one block in a thread while the next is read (at most one in flight).
                if writing:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(sink.write, b"".join(block)))
                if progress:
                    progress.advance(len(block), block_bytes, label=name)
                size += block_bytes
                block, block_bytes = [], 0
        if writing:
            await writing
        await asyncio.to_thread(sink.write, b"".join(block))
        if progress:
            progress.advance(len(block), block_bytes, label=name)
        size += block_bytes
        entry = await asyncio.to_thread(sink.finish)
    except BaseException:
        if writing and not writing.done():
            await asyncio.wait([writing])
        sink.abandon()
        raise
    return (count, size), entry


def _write_manifest(work: Path, manifest: Manifest) -> None:
    path = work / MANIFEST
    with path.open("x", encoding="utf-8") as stream:
        stream.write(manifest.model_dump_json(indent=2))
        stream.flush()
        os.fsync(stream.fileno())
    for directory in (work / manifest.database, work):
        _fsync_directory(directory)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
