"""`shop audit-data` and `shop launch-check`: each item with its verdict, and how to fix what fails."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from pathlib import Path

from bson import ObjectId

from shop.audit.checks import MAX_FINDINGS
from shop.audit.load import AuditReport, audit_database, baseline_from_backup
from shop.backup.verify import verify_backup
from shop.console import EXIT_FINDINGS, EXIT_OK, emit_json
from shop.database import connected
from shop.launch.items import verdict
from shop.launch.run import launch_items
from shop.settings import ShopSettings

# Offending documents printed per invariant (the JSON output carries up to MAX_FINDINGS).
SHOWN_FINDINGS = 10


def run_audit(args: argparse.Namespace, settings: ShopSettings) -> int:
    starting: dict[ObjectId, int] | None = None
    if args.baseline:
        key = settings.backup_encryption_key
        starting = baseline_from_backup(
            verify_backup(Path(args.baseline), key.get_secret_value() if key else None)
        )
    database = args.db or settings.mongodb_db

    async def audit() -> AuditReport:
        async with connected(
            settings.mongodb_url, timeout_seconds=settings.mongodb_startup_timeout_seconds
        ) as client:
            return await audit_database(client, database, settings.mongodb_url, starting_stock=starting)

    report = asyncio.run(audit())
    if args.json:
        emit_json({
            "ok": report.ok, "command": "audit-data", "database": database,
            "snapshot": report.snapshot_method,
            "verdicts": [
                {"name": v.name, "status": v.status, "statement": v.statement, "checked": v.checked,
                 "offending": v.found, "note": v.note, "findings": [asdict(f) for f in v.findings]}
                for v in report.verdicts
            ],
        })  # fmt: skip
        return EXIT_OK if report.ok else EXIT_FINDINGS
    print(f"audit of {database!r} (read-only, one {report.snapshot_method} snapshot)")
    for v in report.verdicts:
        print(f"{v.status:<4}  {v.name:<30} {v.statement} ({v.checked:,} checked)")
        if v.note:
            print(f"      note: {v.note}")
        for finding in v.findings[:SHOWN_FINDINGS]:
            print(f"      {finding.collection} {finding.id}: {finding.problem}")
        if v.found > SHOWN_FINDINGS:
            print(f"      ... and {v.found - SHOWN_FINDINGS} more (--json lists up to {MAX_FINDINGS})")
    failed = sum(v.status == "FAIL" for v in report.verdicts)
    print("every invariant holds" if report.ok else f"{failed} invariants FAIL")
    return EXIT_OK if report.ok else EXIT_FINDINGS


def run_launch_check(args: argparse.Namespace) -> int:
    items = asyncio.run(launch_items(args.url))
    line = verdict(items)
    ready = line == "READY"
    if args.json:
        emit_json(
            {
                "ok": ready,
                "command": "launch-check",
                "verdict": line,
                "items": [asdict(item) for item in items],
            }
        )
        return EXIT_OK if ready else EXIT_FINDINGS
    for item in items:
        print(f"{item.status:<4}  {item.name}: {item.detail}")
        if item.fix and item.status != "PASS":
            print(f"      fix: {item.fix}")
    print(line)
    return EXIT_OK if ready else EXIT_FINDINGS
