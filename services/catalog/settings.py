"""Settings of the catalog service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from shared.settings import CommonSettings, settings_or_exit


class CatalogSettings(CommonSettings):
    service_name: ClassVar[str] = "catalog"


@lru_cache
def get_settings() -> CatalogSettings:
    return settings_or_exit(CatalogSettings)
