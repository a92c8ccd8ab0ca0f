"""The backups in a folder, their age, and retention: keep the newest N and/or those younger than D days.

Only directories this tool made (named `shop-<time>`, with a readable manifest) are ever deleted, the
newest always stays, and temporary directories of interrupted backups are removed after a day.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shop.backup.format import BACKUP_NAME, PARTIAL_PREFIX, Manifest, read_manifest
from shop.console import OperatorError

STALE_PARTIAL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class BackupEntry:
    path: Path
    manifest: Manifest | None
    problem: str | None  # why the manifest could not be read

    @property
    def created_at(self) -> datetime | None:
        return self.manifest.created_at if self.manifest else None


def list_backups(root: Path) -> list[BackupEntry]:
    """Every backup directory in `root`, oldest first (by name, which is its UTC time)."""
    if not root.is_dir():
        return []
    entries = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and BACKUP_NAME.match(p.name)):
        try:
            entries.append(BackupEntry(path, read_manifest(path), None))
        except OperatorError as exc:
            entries.append(BackupEntry(path, None, str(exc)))
    return entries


def newest_valid(root: Path) -> BackupEntry | None:
    valid = [entry for entry in list_backups(root) if entry.manifest]
    return max(valid, key=lambda entry: entry.created_at or datetime.min) if valid else None


def prune(root: Path, *, keep: int, keep_days: float, now: datetime) -> list[Path]:
    """Delete what retention no longer keeps; returns the deleted paths."""
    valid = sorted((e for e in list_backups(root) if e.manifest), key=lambda e: e.created_at or now)
    doomed: list[Path] = []
    candidates = valid[:-1]  # the newest always stays
    if keep > 0:
        doomed += [entry.path for entry in candidates[: max(0, len(valid) - keep)]]
    if keep_days > 0:
        cutoff = now - timedelta(days=keep_days)
        doomed += [
            e.path for e in candidates if e.created_at and e.created_at < cutoff and e.path not in doomed
        ]
    for path in doomed:
        shutil.rmtree(path)
    for partial in root.glob(f"{PARTIAL_PREFIX}*"):
        if partial.is_dir() and time.time() - partial.stat().st_mtime > STALE_PARTIAL_SECONDS:
            shutil.rmtree(partial, ignore_errors=True)
            doomed.append(partial)
    return doomed
