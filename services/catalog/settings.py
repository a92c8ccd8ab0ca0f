"""Settings of the catalog service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from shared.currencies import CurrencyCodes
from shared.settings import CommonSettings, settings_or_exit


class CatalogSettings(CommonSettings):
    service_name: ClassVar[str] = "catalog"

    # The currencies products may be priced in (comma-separated ISO 4217 codes). A price in any other
    # is refused (422 currency-not-offered): each one needs a provider that takes it (see
    # shared/currencies.py for who takes what), so the shop names the few it sells in.
    shop_currencies: CurrencyCodes = Field(default_factory=lambda: ["BDT", "USD", "EUR"])
    # How often each replica rescans the active products' names and prices for the rank scales of
    # the name and price sorts (products/ranks.py: one pass over the catalog; stale fences cost a
    # page's speed, never an item).
    catalog_ranks_refresh_seconds: float = Field(default=600.0, gt=0)


@lru_cache
def get_settings() -> CatalogSettings:
    return settings_or_exit(CatalogSettings)
