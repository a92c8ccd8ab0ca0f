"""Settings of the gateway."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from shared.settings import CommonSettings, settings_or_exit


class GatewaySettings(CommonSettings):
    service_name: ClassVar[str] = "gateway"
    requires_mongodb: ClassVar[bool] = False

    auth_service_url: str = "http://127.0.0.1:8001"
    catalog_service_url: str = "http://127.0.0.1:8002"
    order_service_url: str = "http://127.0.0.1:8003"
    payment_service_url: str = "http://127.0.0.1:8004"

    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_read_timeout_seconds: float = Field(default=15.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)

    def upstream_urls(self) -> dict[str, str]:
        return {
            "auth": self.auth_service_url,
            "catalog": self.catalog_service_url,
            "order": self.order_service_url,
            "payment": self.payment_service_url,
        }


@lru_cache
def get_settings() -> GatewaySettings:
    return settings_or_exit(GatewaySettings)
