"""Settings of the gateway."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from ipaddress import ip_network
from typing import Annotated, ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from gateway.captcha.config import SITEVERIFY_URLS, CaptchaProvider, development_altcha_secret, parse_route
from gateway.ratelimit.policy import parse_rate_limit
from shared.forwarding import IpNetwork
from shared.settings import MAX_BODY_LIMIT, CommonSettings, settings_or_exit

# An exact browser origin: scheme, host, optional port; no path, no wildcard, no trailing slash.
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$")


def comma_separated(value: object) -> object:
    """`a, b,c` -> ["a", "b", "c"]; anything else (a list given in code) unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def prefix_map(value: object, convert: Callable[[str], float | None], shape: str) -> object:
    """`/a=1,/b/c=2` -> {"/a": 1, "/b/c": 2}; `convert` turns a value into a number, or None if invalid."""
    entries = comma_separated(value)
    if not isinstance(entries, list):
        return entries
    parsed: dict[str, float] = {}
    for entry in entries:
        prefix, _, raw = str(entry).partition("=")
        prefix = prefix.strip().rstrip("/")
        number = convert(raw.strip()) if prefix.startswith("/") else None
        if number is None:
            raise ValueError(f"{entry!r} is not {shape}")
        parsed[prefix] = number
    return parsed


def _seconds(raw: str) -> float | None:
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if 0 < seconds <= 600 else None


def _byte_count(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


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

    # Larger (or smaller) limits than MAX_BODY_BYTES under a path prefix: `/api/v1/some/prefix=bytes,...`
    # (a service behind a larger override needs its own MAX_BODY_BYTES raised too).
    body_limit_overrides: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    max_url_bytes: int = Field(default=8192, ge=256, le=65_536)
    max_header_bytes: int = Field(default=16_384, ge=1024, le=65_536)

    # Proxies (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trusted_proxies: Annotated[tuple[IpNetwork, ...], NoDecode] = ()
    max_inflight_per_client: int = Field(default=32, ge=1, le=10_000)

    # Rate limits per route class (gateway/ratelimit/), each `N/second|minute|hour|day` (or `N per 2
    # minutes`): every public route per client (user of a verified token, else IP); login and register
    # per IP; placing orders and payments; refunds; provider webhooks and callbacks per IP.
    rate_limit_default: str = "120/minute"
    rate_limit_auth: str = "10/minute"
    # Refresh, apart from login and the default budget: per session (token family), and more loosely
    # per client address (which also bounds a caller inventing families).
    rate_limit_refresh: str = "60/minute"
    rate_limit_refresh_client: str = "600/minute"
    # The auth service's refresh cookie (the same REFRESH_COOKIE_NAME): where the gateway finds the
    # session a browser's refresh belongs to, and what the API document names.
    refresh_cookie_name: str = Field(default="refresh_token", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    rate_limit_checkout: str = "10/minute"
    rate_limit_refunds: str = "30/minute"
    rate_limit_webhooks: str = "600/minute"
    # Prefix of the counters' keys in Redis (REDIS_URL): gateways with the same prefix share the limits.
    rate_limit_key_prefix: str = Field(default="ratelimit", pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    # Bound on each Redis call; past it, or on a Redis error, this process counts in memory, and tries
    # Redis again this often.
    rate_limit_redis_timeout_seconds: float = Field(default=0.25, gt=0, le=5)
    rate_limit_redis_retry_seconds: float = Field(default=5.0, gt=0, le=300)
    # With Redis, a default-class request far from its limit is let through before Redis has counted
    # it (gateway/ratelimit/ahead.py); false: every request waits for Redis, exact across replicas.
    rate_limit_count_ahead: bool = True

    # CAPTCHA (gateway/captcha/). Unset provider: altcha in production, off elsewhere. The auth service
    # reads the same CAPTCHA_PROVIDER (it decides when a solution is needed): keep the two equal.
    captcha_provider: CaptchaProvider | None = None
    # ALTCHA: the HMAC key that signs challenges; hosted providers: the siteverify secret. Required
    # unless the provider is off, so it is checked here rather than by CommonSettings.
    optional_secrets: ClassVar[frozenset[str]] = frozenset({"captcha_secret"})
    captcha_secret: SecretStr | None = None
    # Empty: the provider's own endpoint (config.SITEVERIFY_URLS).
    captcha_siteverify_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    captcha_verify_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # Hostnames a hosted provider's token must have been issued on; empty: not checked.
    captcha_hostnames: Annotated[tuple[str, ...], NoDecode] = ()
    # Operations that always need a solution at the gateway: `METHOD /path`, comma-separated.
    captcha_routes: Annotated[tuple[str, ...], NoDecode] = ()
    # ALTCHA work per challenge: PBKDF2 iterations per try, and the highest counter to find.
    altcha_cost: int = Field(default=1000, ge=1, le=100_000)
    altcha_max_number: int = Field(default=1000, ge=2, le=1_000_000)
    altcha_challenge_ttl_seconds: int = Field(default=600, ge=10, le=3600)

    @field_validator("captcha_hostnames", mode="before")
    @classmethod
    def _parse_hostnames(cls, value: object) -> object:
        return comma_separated(value)

    @field_validator("captcha_routes", mode="before")
    @classmethod
    def _parse_captcha_routes(cls, value: object) -> object:
        entries = comma_separated(value)
        if not isinstance(entries, list | tuple):
            return entries
        return tuple(parse_route(str(entry)) for entry in entries)

    @property
    def effective_captcha_provider(self) -> CaptchaProvider:
        if self.captcha_provider is not None:
            return self.captcha_provider
        return CaptchaProvider.ALTCHA if self.is_production else CaptchaProvider.OFF

    @property
    def effective_siteverify_url(self) -> str:
        return self.captcha_siteverify_url or SITEVERIFY_URLS.get(self.effective_captcha_provider, "")

    def _production_problems(self) -> list[str]:
        """CommonSettings' problems, plus CAPTCHA_SECRET when a provider needs it (named together)."""
        problems = super()._production_problems()
        provider = self.effective_captcha_provider
        if provider is not CaptchaProvider.OFF and self.captcha_secret is None:
            problems.append(f"CAPTCHA_SECRET is missing (CAPTCHA_PROVIDER={provider} needs it)")
        return problems

    @model_validator(mode="after")
    def _captcha_secret_outside_production(self) -> Self:
        provider = self.effective_captcha_provider
        if self.is_production or provider is CaptchaProvider.OFF or self.captcha_secret is not None:
            return self
        if provider.external:
            raise ValueError(f"CAPTCHA_PROVIDER={provider} needs CAPTCHA_SECRET (its siteverify secret)")
        object.__setattr__(self, "captcha_secret", development_altcha_secret(self.data_dir, self.env.value))
        return self

    # Resilience (gateway/breaker.py): consecutive failed requests that open a service's breaker, and
    # how long it stays open before one trial request; longer upstream read timeouts under path
    # prefixes (`/api/v1/payments=40,...`); how long the merged OpenAPI document is cached.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_reset_seconds: float = Field(default=10.0, gt=0, le=3600)
    upstream_route_timeouts: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    openapi_cache_seconds: float = Field(default=300.0, ge=0, le=86_400)

    # Observability (docs/observability.md). The gateway's /metrics is never served on its public port:
    # with METRICS_PORT set, on a listener of its own at METRICS_HOST (all interfaces by default, for a
    # Prometheus in another container; never publish this port). The aggregate /health answer is
    # reused for HEALTH_CACHE_SECONDS, so a flood of probes does not reach every service.
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - an internal port, scraped from the deployment's network
    health_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    @field_validator("upstream_route_timeouts", mode="before")
    @classmethod
    def _parse_route_timeouts(cls, value: object) -> object:
        return prefix_map(value, _seconds, "`/path/prefix=seconds` (0 < seconds <= 600)")

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
        return prefix_map(value, _byte_count, "`/path/prefix=bytes`")

    @field_validator("body_limit_overrides")
    @classmethod
    def _bound_overrides(cls, value: dict[str, int]) -> dict[str, int]:
        for prefix, size in value.items():
            if not 1 <= size <= MAX_BODY_LIMIT:
                raise ValueError(f"{prefix}: body limit must be between 1 and {MAX_BODY_LIMIT} bytes")
        return value

    @field_validator(
        "rate_limit_default",
        "rate_limit_auth",
        "rate_limit_refresh",
        "rate_limit_refresh_client",
        "rate_limit_checkout",
        "rate_limit_refunds",
        "rate_limit_webhooks",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)  # raises ValueError saying what is wrong
        return value.strip()

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
