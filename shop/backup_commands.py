"""`shop backup`, `restore`, `backups` and `decrypt`: what each prints and returns."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from shared.clock import utcnow
from shop.backup.crypto import BackupKey
from shop.backup.dump import BackupResult, prepare_root, take_backup
from shop.backup.files import FileSink, read_all, write_file
from shop.backup.format import BSON_SUFFIX, MANIFEST, METADATA_SUFFIX, Manifest
from shop.backup.restore import RestoreResult, restore_backup
from shop.backup.retention import list_backups, prune
from shop.backup.verify import VerifiedBackup, verify_backup
from shop.console import EXIT_FINDINGS, EXIT_OK, OperatorError, Progress, emit_json, human_bytes
from shop.database import connected
from shop.settings import ShopSettings

MB = 1_000_000


def _secret(settings: ShopSettings) -> str | None:
    key = settings.backup_encryption_key
    return key.get_secret_value() if key else None


def _rates(documents: int, size: int, seconds: float) -> dict[str, float]:
    seconds = max(seconds, 1e-6)
    return {
        "documents_per_second": round(documents / seconds, 1),
        "mb_per_second": round(size / MB / seconds, 2),
    }


def _rate_line(rates: dict[str, float]) -> str:
    return f"{rates['documents_per_second']:,.0f} documents/s, {rates['mb_per_second']:.1f} MB/s"


def run_backup(args: argparse.Namespace, settings: ShopSettings) -> int:
    root = Path(args.to or settings.backup_dir)
    secret = _secret(settings)
    progress = Progress("backup", 0)

    async def backup() -> BackupResult:
        async with connected(
            settings.mongodb_url, timeout_seconds=settings.mongodb_startup_timeout_seconds
        ) as client:
            return await take_backup(
                client, settings.mongodb_url, args.db or settings.mongodb_db, root,
                key=BackupKey(secret) if secret else None, consistency=args.consistency, progress=progress,
            )  # fmt: skip

    try:
        result = asyncio.run(backup())
    finally:
        progress.close()
    keep = settings.backup_keep if args.keep is None else args.keep
    keep_days = settings.backup_keep_days if args.keep_days is None else args.keep_days
    try:
        pruned = prune(root, keep=keep, keep_days=keep_days, now=utcnow()) if keep or keep_days else []
    except OSError as exc:
        raise OperatorError(f"{result.path} was written, but retention failed: {exc}") from None
    manifest = result.manifest
    bson_bytes = sum(entry.bson_bytes for entry in manifest.collections.values())
    rates = _rates(result.documents, bson_bytes, result.seconds)
    if args.json:
        emit_json({
            "ok": True, "command": "backup", "path": str(result.path), "seconds": round(result.seconds, 3),
            **rates, "pruned": [str(p) for p in pruned], "manifest": manifest.model_dump(mode="json"),
        })  # fmt: skip
        return EXIT_OK
    snapshot = manifest.consistency
    print(f"backup {result.path.name} written to {root} in {result.seconds:.1f} s")
    when = manifest.created_at.isoformat()
    print(f"  point in time {when} ({snapshot.method}, open {snapshot.open_seconds:.1f} s)")
    packing = "gzip, " + manifest.encryption.algorithm if manifest.encryption else "gzip"
    print(
        f"  {len(manifest.collections)} collections, {result.documents:,} documents, "
        f"{human_bytes(bson_bytes)} of BSON stored as {human_bytes(result.stored_bytes)} ({packing})"
    )
    print(f"  {_rate_line(rates)}")
    for path in pruned:
        print(f"  retention removed {path.name}")
    return EXIT_OK


def _verified(args: argparse.Namespace, settings: ShopSettings) -> VerifiedBackup:
    progress = Progress("verify", 0)
    try:
        return verify_backup(Path(args.source), _secret(settings), progress=progress)
    finally:
        progress.close()


def run_restore(args: argparse.Namespace, settings: ShopSettings) -> int:
    backup = _verified(args, settings)
    manifest = backup.manifest
    target = args.db or settings.mongodb_db
    if args.verify_only:
        summary = {name: entry.count for name, entry in manifest.collections.items()}
        if args.json:
            emit_json(
                {
                    "ok": True,
                    "command": "restore",
                    "verified": True,
                    "restored": False,
                    "path": str(backup.path),
                    "collections": summary,
                    "files": len(manifest.files),
                }
            )
        else:
            print(
                f"{backup.path} is complete and intact: {len(manifest.files)} files, "
                f"{sum(summary.values()):,} documents in {len(summary)} collections; "
                "nothing restored (--verify-only)"
            )
        return EXIT_OK
    progress = Progress("restore", 0)

    async def restore() -> RestoreResult:
        async with connected(
            settings.mongodb_url, timeout_seconds=settings.mongodb_startup_timeout_seconds
        ) as client:
            return await restore_backup(
                client, settings.mongodb_url, backup, target, drop=args.drop, progress=progress
            )

    try:
        result = asyncio.run(restore())
    finally:
        progress.close()
    bson_bytes = sum(entry.bson_bytes for entry in manifest.collections.values())
    rates = _rates(result.documents, bson_bytes, result.seconds)
    if args.json:
        emit_json({
            "ok": True, "command": "restore", "path": str(backup.path), "database": target,
            "point_in_time": manifest.created_at.isoformat(), "seconds": round(result.seconds, 3), **rates,
            "collections": {
                name: {"documents": restored.documents, "indexes": restored.indexes}
                for name, restored in result.collections.items()
            },
            "dropped": result.dropped, "left_alone": result.left_alone,
        })  # fmt: skip
        return EXIT_OK
    when = manifest.created_at.isoformat()
    print(f"restored {backup.path.name} (point in time {when}) into {target!r} in {result.seconds:.1f} s")
    for name, restored in sorted(result.collections.items()):
        print(f"  {name:<24} {restored.documents:>10,} documents  {len(restored.indexes)} indexes")
    print(f"  {result.documents:,} documents, {_rate_line(rates)}")
    if result.dropped:
        print(f"  replaced (--drop): {', '.join(result.dropped)}")
    if result.left_alone:
        print(f"  not in the backup, left as they were: {', '.join(result.left_alone)}")
    return EXIT_OK


def run_backups(args: argparse.Namespace, settings: ShopSettings) -> int:
    root = Path(args.dir or settings.backup_dir)
    entries = list_backups(root)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for entry in entries:
        manifest = entry.manifest
        rows.append({
            "path": str(entry.path), "valid": manifest is not None, "problem": entry.problem,
            "created_at": manifest.created_at.isoformat() if manifest else None,
            "age_hours": round((now - manifest.created_at).total_seconds() / 3600, 2) if manifest else None,
            "documents": sum(c.count for c in manifest.collections.values()) if manifest else None,
            "stored_bytes": sum(f.size for f in manifest.files.values()) if manifest else None,
            "encrypted": bool(manifest.encryption) if manifest else None,
        })  # fmt: skip
    ages = [(now - e.manifest.created_at).total_seconds() / 3600 for e in entries if e.manifest]
    limit = args.max_age_hours
    stale = limit is not None and (not ages or min(ages) > limit)
    if args.json:
        emit_json({"ok": not stale, "command": "backups", "dir": str(root), "backups": rows})
    else:
        for row in rows:
            if row["valid"]:
                print(
                    f"{Path(row['path']).name}  {row['age_hours']:>8.1f} h old  "
                    f"{row['documents']:>10,} documents  {human_bytes(row['stored_bytes'])}"
                    f"{'  encrypted' if row['encrypted'] else ''}"
                )
            else:
                print(f"{Path(row['path']).name}  INVALID: {row['problem']}")
        if not rows:
            print(f"no backups in {root}")
        if stale:
            print(f"the newest backup is older than {limit:g} h" if ages else "no valid backup")
    return EXIT_FINDINGS if stale else EXIT_OK


def run_decrypt(args: argparse.Namespace, settings: ShopSettings) -> int:
    """An unencrypted copy that `mongorestore --gzip --dir` reads (the checksums are recomputed)."""
    backup = _verified(args, settings)
    if backup.key is None:
        raise OperatorError(f"{backup.path} is not encrypted; mongorestore reads it as it is")
    target = Path(args.to)
    if target.exists():
        raise OperatorError(f"{target} already exists; name a new directory")
    work = prepare_root(target.parent)
    try:
        files = {}
        manifest = backup.manifest
        for name in manifest.collections:
            for suffix in (BSON_SUFFIX, METADATA_SUFFIX):
                source = manifest.data_path(name, suffix)
                relative = f"{manifest.database}/{name}{suffix}"
                (work / manifest.database).mkdir(exist_ok=True)
                if suffix == METADATA_SUFFIX:
                    data = read_all(backup.path / source, source, backup.key)
                    files[relative] = write_file(work / relative, relative, data, None)
                    continue
                sink = FileSink(work / relative, relative, None)
                for raw in backup.documents(name):
                    sink.write(raw)
                files[relative] = sink.finish()
        plain = Manifest.model_validate({**manifest.model_dump(), "encryption": None, "files": files})
        (work / MANIFEST).write_text(plain.model_dump_json(indent=2), encoding="utf-8")
        os.rename(work, target)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise OperatorError(f"cannot write {target}: {exc.strerror or exc}; nothing was kept") from None
    print(f"decrypted copy of {backup.path.name} written to {target} (keep it as safe as the key)")
    return EXIT_OK
