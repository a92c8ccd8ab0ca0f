"""Writing and reading one backup file: BSON or JSON through gzip, optionally encryption, and a
running SHA-256 of the bytes as stored."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from shop.backup.crypto import BackupKey, DecryptingReader, EncryptingWriter
from shop.backup.format import FileEntry

# gzip level 6, as mongodump's: level 9 costs about twice the time for a few per cent less size.
COMPRESS_LEVEL = 6
READ_BYTES = 1024 * 1024
MAX_BSON_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024  # 16 MiB plus the server's headroom


class CorruptFile(ValueError):
    """The file's content is not what a backup file holds (bad gzip, bad BSON, bad encryption)."""


class _Hashing(io.RawIOBase):
    def __init__(self, sink: BinaryIO) -> None:
        super().__init__()
        self._sink = sink
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._sink.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


class FileSink:
    """One backup file being written; `finish()` flushes it to disk and returns its manifest entry."""

    def __init__(self, path: Path, name: str, key: BackupKey | None) -> None:
        self._raw = path.open("xb")
        self._hashing = _Hashing(self._raw)
        self._encrypting = EncryptingWriter(self._hashing, key, name) if key else None
        target: BinaryIO = self._encrypting or self._hashing  # type: ignore[assignment]
        self._gzip = gzip.GzipFile(fileobj=target, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)

    def write(self, data: bytes) -> None:
        self._gzip.write(data)

    def finish(self) -> FileEntry:
        self._gzip.close()
        if self._encrypting:
            self._encrypting.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        return FileEntry(sha256=self._hashing.digest.hexdigest(), size=self._hashing.size)

    def abandon(self) -> None:
        """Close after a failure without writing more (the whole temporary directory goes)."""
        self._raw.close()


def write_file(path: Path, name: str, data: bytes, key: BackupKey | None) -> FileEntry:
    sink = FileSink(path, name, key)
    try:
        sink.write(data)
        return sink.finish()
    except BaseException:
        sink.abandon()
        raise


def checksum(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while block := stream.read(READ_BYTES):
            digest.update(block)
            size += len(block)
    return FileEntry(sha256=digest.hexdigest(), size=size)


def open_plain(path: Path, name: str, key: BackupKey | None) -> BinaryIO:
    """The decompressed (and decrypted) content of a backup file, as a stream."""
    raw: BinaryIO = path.open("rb")
    source: BinaryIO = io.BufferedReader(DecryptingReader(raw, key, name), READ_BYTES) if key else raw
    return gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[return-value]


def read_all(path: Path, name: str, key: BackupKey | None) -> bytes:
    with open_plain(path, name, key) as stream:
        try:
            return stream.read()
        except (OSError, EOFError) as exc:
            raise CorruptFile(str(exc) or type(exc).__name__) from None


def bson_documents(stream: BinaryIO) -> Iterator[bytes]:
    """Each BSON document of a concatenated dump, as raw bytes; CorruptFile on a malformed one."""
    try:
        while head := stream.read(4):
            if len(head) < 4:
                raise CorruptFile("ends inside a document")
            length = int.from_bytes(head, "little")
            if not 5 <= length <= MAX_BSON_DOCUMENT:
                raise CorruptFile(f"holds a document of impossible length {length}")
            body = stream.read(length - 4)
            if len(body) != length - 4 or body[-1:] != b"\x00":
                raise CorruptFile("ends inside a document")
            yield head + body
    except (OSError, EOFError) as exc:  # gzip: bad data, unexpected end
        raise CorruptFile(str(exc) or type(exc).__name__) from None
