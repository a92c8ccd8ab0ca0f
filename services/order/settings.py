"""Settings of the order service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from shared.settings import CommonSettings, settings_or_exit


class OrderSettings(CommonSettings):
    service_name: ClassVar[str] = "order"


@lru_cache
def get_settings() -> OrderSettings:
    return settings_or_exit(OrderSettings)
