"""The gateway's protection settings: comma-separated lists parsed, mistakes refused at start-up."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> GatewaySettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kwargs: dict[str, Any] = {"_env_file": None, "env": "test", "internal_token": "t" * 40}
    return GatewaySettings(**kwargs)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = settings(monkeypatch)
    assert defaults.cors_origins == ()
    assert defaults.trusted_proxies == ()
    assert defaults.body_limit_overrides == {}
    assert (defaults.max_body_bytes, defaults.max_url_bytes, defaults.max_header_bytes) == (
        1048576,
        8192,
        16384,
    )
    assert defaults.max_inflight_per_client == 32


def test_lists_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = settings(
        monkeypatch,
        CORS_ORIGINS="https://shop.example, http://localhost:5173",
        TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1,2001:db8::/32",
        BODY_LIMIT_OVERRIDES="/api/v1/products/=5000000, /api/v1/payments/webhooks=65536",
    )
    assert parsed.cors_origins == ("https://shop.example", "http://localhost:5173")
    assert parsed.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("127.0.0.1/32"),
        ip_network("2001:db8::/32"),
    )
    assert parsed.body_limit_overrides == {"/api/v1/products": 5000000, "/api/v1/payments/webhooks": 65536}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "https://shop.example/"),
        ("CORS_ORIGINS", "https://shop.example/app"),
        ("CORS_ORIGINS", "shop.example"),
        ("CORS_ORIGINS", "null"),
        ("CORS_ORIGINS", "https://Shop.Example"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("BODY_LIMIT_OVERRIDES", "api/v1/products=100"),
        ("BODY_LIMIT_OVERRIDES", "/api/v1/products"),
        ("BODY_LIMIT_OVERRIDES", "/api/v1/products=0"),
        ("BODY_LIMIT_OVERRIDES", "/api/v1/products=999999999999"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_URL_BYTES", "10"),
        ("MAX_HEADER_BYTES", "999999999"),
        ("MAX_INFLIGHT_PER_CLIENT", "0"),
        ("REQUEST_BODY_TIMEOUT_SECONDS", "0"),
    ],
)
def test_mistakes_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name.lower()):
        settings(monkeypatch, **{name: value})
