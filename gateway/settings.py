"""Settings of the gateway."""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import ip_network
from typing import Annotated, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.forwarding import IpNetwork
from shared.settings import CommonSettings, settings_or_exit

MIB = 1024 * 1024
# The most any route may accept; larger uploads belong in object storage, not in the API.
MAX_BODY_LIMIT = 64 * MIB
# An exact browser origin: scheme, host, optional port; no path, no wildcard, no trailing slash.
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$")


def comma_separated(value: object) -> object:
    """`a, b,c` -> ["a", "b", "c"]; anything else (a list given in code) unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class GatewaySettings(CommonSettings):
    service_name: ClassVar[str] = "gateway"
    requires_mongodb: ClassVar[bool] = False

    auth_service_url: str = "http://127.0.0.1:8001"
    catalog_service_url: str = "http://127.0.0.1:8002"
    order_service_url: str = "http://127.0.0.1:8003"
    payment_service_url: str = "http://127.0.0.1:8004"

    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_read_timeout_seconds: float = Field(default=30.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)

    # Exact SPA origins granted CORS with credentials; empty: no CORS at all.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)

    max_body_bytes: int = Field(default=MIB, ge=1024, le=MAX_BODY_LIMIT)
    # Larger (or smaller) limits under a path prefix: `/api/v1/some/prefix=bytes,...`.
    body_limit_overrides: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    # The whole body must arrive within this time of the request head (cuts trickled uploads).
    request_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_url_bytes: int = Field(default=8192, ge=256, le=65_536)
    max_header_bytes: int = Field(default=16_384, ge=1024, le=65_536)

    # Proxies (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trusted_proxies: Annotated[tuple[IpNetwork, ...], NoDecode] = ()
    max_inflight_per_client: int = Field(default=32, ge=1, le=10_000)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        origins = comma_separated(value)
        if isinstance(origins, list | tuple):
            for origin in origins:
                if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                    raise ValueError(
                        f"{origin!r} is not an exact origin such as https://shop.example "
                        "(lower case, no path, no trailing slash, no wildcard)"
                    )
        return origins

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        entries = comma_separated(value)
        if not isinstance(entries, list | tuple):
            return entries
        try:
            return [ip_network(entry, strict=False) if isinstance(entry, str) else entry for entry in entries]
        except ValueError as exc:
            raise ValueError(f"not an IP address or CIDR network: {exc}") from None

    @field_validator("body_limit_overrides", mode="before")
    @classmethod
    def _parse_overrides(cls, value: object) -> object:
        entries = comma_separated(value)
        if not isinstance(entries, list):
            return entries
        overrides: dict[str, int] = {}
        for entry in entries:
            prefix, _, size = str(entry).partition("=")
            prefix = prefix.strip().rstrip("/")
            if not prefix.startswith("/") or not size.strip().isdigit():
                raise ValueError(f"{entry!r} is not `/path/prefix=bytes`")
            overrides[prefix] = int(size)
        return overrides

    @field_validator("body_limit_overrides")
    @classmethod
    def _bound_overrides(cls, value: dict[str, int]) -> dict[str, int]:
        for prefix, size in value.items():
            if not 1 <= size <= MAX_BODY_LIMIT:
                raise ValueError(f"{prefix}: body limit must be between 1 and {MAX_BODY_LIMIT} bytes")
        return value

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
