"""Authenticated encryption of backup files: AES-256-GCM in 1 MiB chunks (the STREAM construction).

Each file is `MAGIC | 7-byte random prefix | chunk...`, each chunk the ciphertext of up to CHUNK_BYTES
of plaintext followed by its 16-byte tag. A chunk's nonce is the file's prefix, the chunk's number and
a flag marking the last chunk, and its associated data is the file's path inside the backup, so a chunk
cannot be altered, reordered, dropped at the end, or moved to another file without decryption failing.
The AES key is derived from BACKUP_ENCRYPTION_KEY with HKDF-SHA256; another derivation gives the key id
recorded in the manifest, which tells a wrong key from a damaged file before anything is decrypted.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = "AES-256-GCM"
KDF = "HKDF-SHA256"
MAGIC = b"SHOPENC1"
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
PREFIX_BYTES = 7
_SALT = b"shop-backup/v1"


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class DecryptionFailed(ValueError):
    """The file was altered, truncated or encrypted under another key."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose).derive(secret.encode())


class BackupKey:
    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(_derive(secret, b"file encryption"))
        self.key_id = _derive(secret, b"key id")[:8].hex()

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptionFailed("authentication failed") from None


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter(io.RawIOBase):
    """Encrypts what is written to it into `sink`, one chunk at a time; close() seals the last chunk."""

    def __init__(self, sink: Sink, key: BackupKey, name: str) -> None:
        super().__init__()
        self._sink = sink
        self._key = key
        self._aad = name.encode()
        self._prefix = os.urandom(PREFIX_BYTES)
        self._counter = 0
        self._buffer = bytearray()
        sink.write(MAGIC + self._prefix)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        # Keep at least one byte back: the last chunk must be sealed as the last one at close().
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        if self._counter >= 2**32 - 1:
            raise ValueError("file too large to encrypt")
        self._sink.write(self._key.seal(_nonce(self._prefix, self._counter, last), plaintext, self._aad))
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()


class DecryptingReader(io.RawIOBase):
    """The plaintext of a file written by EncryptingWriter; DecryptionFailed on any alteration."""

    def __init__(self, source: BinaryIO, key: BackupKey, name: str) -> None:
        super().__init__()
        self._source = source
        self._key = key
        self._aad = name.encode()
        head = source.read(len(MAGIC) + PREFIX_BYTES)
        if len(head) != len(MAGIC) + PREFIX_BYTES or not head.startswith(MAGIC):
            raise DecryptionFailed("not an encrypted backup file")
        self._prefix = head[len(MAGIC) :]
        self._counter = 0
        self._pending = source.read(CHUNK_BYTES + TAG_BYTES)
        self._plain = b""
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._plain and not self._finished:
            self._next_chunk()
        count = min(len(target), len(self._plain))
        target[:count] = self._plain[:count]
        self._plain = self._plain[count:]
        return count

    def _next_chunk(self) -> None:
        chunk = self._pending
        self._pending = self._source.read(CHUNK_BYTES + TAG_BYTES)
        last = not self._pending
        if len(chunk) < TAG_BYTES:
            raise DecryptionFailed("truncated")
        self._plain = self._key.open(_nonce(self._prefix, self._counter, last), chunk, self._aad)
        self._counter += 1
        self._finished = last
