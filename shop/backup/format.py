"""The backup format: a mongorestore-compatible directory dump plus a manifest.

    shop-20250101T020000Z/
      manifest.json                      what, when, from where, counts, SHA-256 of every file
      <db>/<collection>.bson.gz          the collection's documents as BSON, gzip-compressed
      <db>/<collection>.metadata.json.gz its options and indexes (MongoDB extended JSON)

That is the layout `mongodump --gzip` writes, so `mongorestore --gzip --dir <backup>` reads an
unencrypted backup as it is. Encrypted backups add `.enc` to every data file (shop/backup/crypto.py).
A backup directory appears under its final name only once complete: it is written under a hidden
temporary name and renamed, so an interrupted backup never looks valid.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shop.console import OperatorError

FORMAT = "shop-backup"
# Raise when the layout or the manifest changes incompatibly; a reader refuses newer versions.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BACKUP_NAME = re.compile(r"^shop-\d{8}T\d{6}(\.\d+)?Z$")
PARTIAL_PREFIX = ".partial-"
BSON_SUFFIX = ".bson.gz"
METADATA_SUFFIX = ".metadata.json.gz"
ENCRYPTED_SUFFIX = ".enc"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class CollectionEntry(Strict):
    count: int = Field(ge=0)
    bson_bytes: int = Field(ge=0)
    indexes: int = Field(ge=0)


class ClusterTime(Strict):
    t: int
    i: int


class Consistency(Strict):
    # snapshot-session: every collection read at one cluster time (MongoDB 5.0+ replica sets);
    # transaction: read in one snapshot-isolated read-only transaction (the embedded server).
    method: Literal["snapshot-session", "transaction"]
    cluster_time: ClusterTime | None
    # The point in time lies between these two: writes acknowledged before `opened_at` are in the
    # backup, writes started after `pinned_at` are not.
    opened_at: datetime
    pinned_at: datetime
    closed_at: datetime
    open_seconds: float


class Encryption(Strict):
    algorithm: str
    kdf: str
    key_id: str
    chunk_bytes: int


class Manifest(Strict):
    format: Literal["shop-backup"]
    format_version: int
    tool: str
    created_at: datetime  # the point in time the backup shows (the snapshot's)
    finished_at: datetime
    database: str
    server: dict[str, Any]
    consistency: Consistency
    compression: Literal["gzip"]
    encryption: Encryption | None
    collections: dict[str, CollectionEntry]
    files: dict[str, FileEntry]
    skipped: list[str] = []

    def data_path(self, collection: str, suffix: str) -> str:
        """The relative path of one of a collection's files, as listed in `files`."""
        return f"{self.database}/{collection}{suffix}{ENCRYPTED_SUFFIX if self.encryption else ''}"


def backup_name(at: datetime) -> str:
    return "shop-" + at.strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def read_manifest(directory: Path) -> Manifest:
    """The backup's manifest, refusing a newer format or anything malformed (one line each)."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise OperatorError(f"{directory} is not a directory")
    if not path.is_file():
        raise OperatorError(f"{directory} is not a backup: it has no {MANIFEST}{_backups_inside(directory)}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OperatorError(f"{path} is unreadable or not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise OperatorError(f"{path} is not a shop backup manifest (format is not {FORMAT!r})")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise OperatorError(f"{path} has no format_version")
    if version > FORMAT_VERSION:
        raise OperatorError(
            f"{directory} was written in backup format {version}, newer than this tool reads "
            f"(up to {FORMAT_VERSION}): restore it with the shop version that made it ({raw.get('tool')})"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise OperatorError(f"{path} is malformed: {where}: {problem['msg']}") from None


def _backups_inside(directory: Path) -> str:
    """A hint when the operator named the folder that holds backups instead of one backup."""
    inside = sorted(
        p.name for p in directory.iterdir() if BACKUP_NAME.match(p.name) and (p / MANIFEST).is_file()
    )
    return f" (it holds backups; the newest is {directory / inside[-1]})" if inside else ""
