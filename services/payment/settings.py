"""Settings of the payment service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from shared.settings import CommonSettings, settings_or_exit


class PaymentSettings(CommonSettings):
    service_name: ClassVar[str] = "payment"


@lru_cache
def get_settings() -> PaymentSettings:
    return settings_or_exit(PaymentSettings)
