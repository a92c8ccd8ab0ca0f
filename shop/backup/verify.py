"""Checking a backup completely before anything is written: every file present, listed, of its size
and SHA-256, decryptable with the key, decompressible, and holding the documents the manifest counts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import json_util
from bson.errors import InvalidBSON

from shop.backup.crypto import BackupKey, DecryptionFailed
from shop.backup.files import CorruptFile, bson_documents, checksum, open_plain, read_all
from shop.backup.format import BSON_SUFFIX, MANIFEST, METADATA_SUFFIX, Manifest, read_manifest
from shop.console import EXIT_USAGE, OperatorError, Progress


@dataclass(frozen=True)
class VerifiedBackup:
    path: Path
    manifest: Manifest
    key: BackupKey | None
    metadata: dict[str, dict[str, Any]]  # per collection: options and index specs

    def documents(self, collection: str) -> Iterator[bytes]:
        relative = self.manifest.data_path(collection, BSON_SUFFIX)
        with open_plain(self.path / relative, relative, self.key) as stream:
            yield from bson_documents(stream)


def backup_key(manifest: Manifest, secret: str | None, directory: Path) -> BackupKey | None:
    if manifest.encryption is None:
        return None
    if not secret:
        raise OperatorError(
            f"{directory} is encrypted: set BACKUP_ENCRYPTION_KEY to the key it was made with", EXIT_USAGE
        )
    key = BackupKey(secret)
    if key.key_id != manifest.encryption.key_id:
        raise OperatorError(
            f"BACKUP_ENCRYPTION_KEY is not the key {directory} was encrypted with "
            f"(key id {key.key_id}, the backup's is {manifest.encryption.key_id})",
            EXIT_USAGE,
        )
    return key


def verify_backup(directory: Path, secret: str | None, *, progress: Progress | None = None) -> VerifiedBackup:
    """The backup, verified end to end; OperatorError naming the first file that is not as recorded."""
    manifest = read_manifest(directory)
    key = backup_key(manifest, secret, directory)
    _check_listing(directory, manifest)
    for relative, expected in sorted(manifest.files.items()):
        path = directory / relative
        actual = checksum(path)
        if actual.size != expected.size:
            shorter = "truncated" if actual.size < expected.size else "longer than recorded"
            raise OperatorError(
                f"{path} is {shorter}: {actual.size} bytes, the manifest says {expected.size}; "
                "nothing was restored"
            )
        if actual.sha256 != expected.sha256:
            raise OperatorError(
                f"{path} is corrupted: its SHA-256 does not match the manifest; nothing was restored"
            )
    bar = progress
    if bar:
        bar.total = sum(entry.count for entry in manifest.collections.values())
    metadata = {}
    for name, entry in sorted(manifest.collections.items()):
        metadata[name] = _read_metadata(directory, manifest, name, key)
        count = size = 0
        relative = manifest.data_path(name, BSON_SUFFIX)
        try:
            with open_plain(directory / relative, relative, key) as stream:
                for raw in bson_documents(stream):
                    count += 1
                    size += len(raw)
                    if bar and count % 5000 == 0:
                        bar.advance(5000, 0, label=f"verify {name}")
        except (CorruptFile, DecryptionFailed) as exc:
            raise OperatorError(
                f"{directory / relative} cannot be read back ({exc}); nothing was restored"
            ) from None
        if bar:
            bar.advance(count % 5000, 0, label=f"verify {name}")
        if (count, size) != (entry.count, entry.bson_bytes):
            raise OperatorError(
                f"{directory / relative} holds {count} documents ({size} bytes), the manifest says "
                f"{entry.count} ({entry.bson_bytes} bytes); nothing was restored"
            )
    return VerifiedBackup(directory, manifest, key, metadata)


def _check_listing(directory: Path, manifest: Manifest) -> None:
    on_disk = {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and path.name != MANIFEST
    }
    for name in manifest.collections:
        for suffix in (BSON_SUFFIX, METADATA_SUFFIX):
            if manifest.data_path(name, suffix) not in manifest.files:
                raise OperatorError(
                    f"the manifest of {directory} lists no {manifest.data_path(name, suffix)}"
                )
    missing = sorted(set(manifest.files) - on_disk)
    if missing:
        raise OperatorError(
            f"{directory / missing[0]} is missing ({len(missing)} files missing); nothing was restored"
        )
    extra = sorted(on_disk - set(manifest.files))
    if extra:
        raise OperatorError(
            f"{directory / extra[0]} is not in the manifest; the backup was changed after it was made"
        )


def _read_metadata(directory: Path, manifest: Manifest, name: str, key: BackupKey | None) -> dict[str, Any]:
    relative = manifest.data_path(name, METADATA_SUFFIX)
    try:
        metadata = json_util.loads(read_all(directory / relative, relative, key))
    except (CorruptFile, DecryptionFailed, ValueError, InvalidBSON) as exc:
        raise OperatorError(
            f"{directory / relative} cannot be read back ({exc}); nothing was restored"
        ) from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("indexes", []), list):
        raise OperatorError(f"{directory / relative} is not collection metadata; nothing was restored")
    return metadata
