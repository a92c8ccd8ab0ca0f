"""Launch items decided by asking the running gateway (`--url`), and the services behind it."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from gateway.settings import GatewaySettings
from shop.launch.items import Item, check, failed, passed

TIMEOUT_SECONDS = 10.0
ONE_YEAR = 31_536_000
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
# Spellings of internal endpoints a proxy might let through; the gateway must answer 400 or 404.
INTERNAL_PATHS = (
    "/metrics",
    "/api/v1/products/%2e%2e/%2e%2e/metrics",
    "/api/v1/orders/%2e%2e%2f%2e%2e%2fhealth/ready",
    "//metrics",
    "/api/v1/internal",
)


def _max_age(hsts: str) -> int:
    for part in hsts.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return int(value)
    return 0


async def probe_items(url: str, gateway: GatewaySettings | None) -> list[Item]:
    base = url.rstrip("/")
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as http:
        try:
            health = await http.get(f"{base}/health")
        except httpx.HTTPError as exc:
            return [
                failed(
                    "gateway reachable",
                    f"{base}/health: {type(exc).__name__}",
                    "start the stack, or check --url",
                )
            ]
        items = [
            check(
                "gateway reachable",
                [] if health.status_code == 200 else [f"/health answered {health.status_code}"],
                f"{base}/health answered 200",
                "every service must be ready (GET /health names the ones that are not)",
            )
        ]
        hsts = health.headers.get("strict-transport-security", "")
        hsts_problems = (
            [] if urlsplit(base).scheme == "https" else [f"{base} is not https (probe the public address)"]
        )
        if _max_age(hsts) < ONE_YEAR:
            hsts_problems.append(f"Strict-Transport-Security is {hsts or 'absent'}")
        items.append(
            check(
                "HSTS",
                hsts_problems,
                hsts,
                "terminate TLS in front of the gateway, send X-Forwarded-Proto and list the proxy in "
                "TRUSTED_PROXIES",
            )
        )
        missing = await _missing_security_headers(http, base, health)
        items.append(
            check(
                "security headers",
                missing,
                "nosniff, CSP, no-referrer, DENY, no Server header",
                "serve clients only through the gateway (it adds them to every answer)",
            )
        )
        listing = await http.get(f"{base}/api/v1/products", params={"limit": 1})
        absent = [name for name in ("RateLimit-Limit", "RateLimit-Policy") if name not in listing.headers]
        items.append(
            check(
                "rate-limit headers",
                absent and [f"{', '.join(absent)} absent from GET /api/v1/products"],
                listing.headers.get("ratelimit-policy", ""),
                "serve clients only through the gateway",
            )
        )
        items.append(await _internal_paths_item(http, base))
    if gateway is not None:
        items.append(await _services_item(gateway))
    return items


async def _missing_security_headers(http: httpx.AsyncClient, base: str, health: httpx.Response) -> list[str]:
    missing = []
    not_found = await http.get(f"{base}/api/v1/no-such-thing")
    for response, label in ((health, "/health"), (not_found, "a 404")):
        for name, expected in SECURITY_HEADERS.items():
            if expected not in response.headers.get(name, ""):
                missing.append(f"{name} on {label}")
        if "server" in response.headers:
            missing.append(f"Server: {response.headers['server']} on {label}")
    return missing


async def _internal_paths_item(http: httpx.AsyncClient, base: str) -> Item:
    public = []
    for path in INTERNAL_PATHS:
        response = await http.get(httpx.URL(base + path))
        if response.status_code not in (400, 403, 404):
            public.append(f"{path} answered {response.status_code}")
    return check(
        "/metrics and internal paths not public",
        public,
        "every internal path answered 400, 403 or 404",
        "block /metrics (and anything but /api, /health, /openapi.json, /docs) at the proxy in front of "
        "the gateway",
    )


async def _services_item(gateway: GatewaySettings) -> Item:
    """Each service refuses (403 gateway-only) a caller without the internal token, or cannot be reached."""
    open_doors = []
    async with httpx.AsyncClient(timeout=3.0, trust_env=False) as http:
        for name, url in gateway.upstream_urls().items():
            try:
                response = await http.get(f"{url.rstrip('/')}/api/v1/products", params={"limit": 1})
            except httpx.HTTPError:
                continue  # not reachable from here: that is the point
            if response.status_code != 403:
                open_doors.append(
                    f"{name} at {url} answered {response.status_code} without the internal token"
                )
    if open_doors:
        return failed(
            "services answer only the gateway",
            "; ".join(open_doors),
            "run the services with ENV=production and INTERNAL_TOKEN, on a network clients cannot reach",
        )
    return passed("services answer only the gateway", "403 gateway-only, or not reachable from here")
