"""Every launch item in order: settings, the newest backup, and (with a URL) the running gateway."""

from __future__ import annotations

from datetime import timedelta

from gateway.settings import GatewaySettings
from shared.clock import utcnow
from shop.backup.retention import newest_valid
from shop.launch.config import load_all, typed
from shop.launch.items import Item, failed, passed, warned
from shop.launch.probe import probe_items
from shop.launch.settings_checks import settings_items
from shop.settings import ShopSettings


def backup_items(shop: ShopSettings | None) -> list[Item]:
    name = "recent backup with a valid manifest"
    fix = "run `shop backup --to BACKUP_DIR` and schedule it (deploy/README.md, the backup service)"
    if shop is None:
        return [failed(name, "the tool's own settings cannot be read", fix)]
    newest = newest_valid(shop.backup_dir)
    if newest is None or newest.manifest is None:
        return [failed(name, f"no backup in {shop.backup_dir} (BACKUP_DIR)", fix)]
    age = utcnow() - newest.manifest.created_at
    limit = timedelta(hours=shop.backup_max_age_hours)
    hours = age.total_seconds() / 3600
    missing = [relative for relative in newest.manifest.files if not (newest.path / relative).is_file()]
    if missing:
        return [failed(name, f"{newest.path} lacks {missing[0]}", fix)]
    if age > limit:
        return [
            failed(
                name,
                f"the newest, {newest.path.name}, is {hours:.1f} h old "
                f"(BACKUP_MAX_AGE_HOURS={shop.backup_max_age_hours:g})",
                fix,
            )
        ]
    items = [passed(name, f"{newest.path.name}, {hours:.1f} h old, {len(newest.manifest.files)} files")]
    if newest.manifest.encryption is None:
        items.append(
            warned(
                "backups encrypted",
                f"{newest.path.name} is not encrypted",
                "set BACKUP_ENCRYPTION_KEY for the backup job (and keep the key apart from the backups)",
            )
        )
    return items


async def launch_items(url: str | None) -> list[Item]:
    loaded = load_all()
    items = settings_items(loaded) + backup_items(typed(loaded, "shop", ShopSettings))
    if url:
        items += await probe_items(url, typed(loaded, "gateway", GatewaySettings))
    return items
