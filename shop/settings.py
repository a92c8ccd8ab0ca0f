"""Settings of the operator tool: where backups go, how long they are kept, their encryption key."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import CommonSettings, SettingsError, load_settings


class ShopSettings(CommonSettings):
    service_name: ClassVar[str] = "shop"
    # The tool never calls a service, so it needs no INTERNAL_TOKEN; the backup key is optional
    # (without it backups are not encrypted), but checked for strength in production when present.
    optional_secrets: ClassVar[frozenset[str]] = frozenset({"internal_token", "backup_encryption_key"})

    # Where `shop backup` writes (one sub-directory per backup) and `shop launch-check` looks.
    backup_dir: Path = Path("var/backups")
    # Key of the backups' authenticated encryption (AES-256-GCM under a key derived from it with
    # HKDF-SHA256). Keep it apart from the backups: whoever holds both can read every customer's data.
    backup_encryption_key: SecretStr | None = None
    # Retention applied after each successful backup: keep the newest N (0: all) ...
    backup_keep: int = Field(default=0, ge=0)
    # ... and delete those older than this many days (0: never by age). The newest is always kept.
    backup_keep_days: float = Field(default=0, ge=0)
    # `shop launch-check` and `shop backups --max-age-hours` fail when the newest backup is older.
    backup_max_age_hours: float = Field(default=26, gt=0)


def shop_settings() -> ShopSettings:
    """The tool's settings; a bad configuration raises SettingsError naming every problem."""
    return load_settings(ShopSettings)


__all__ = ["SettingsError", "ShopSettings", "shop_settings"]
