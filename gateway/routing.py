"""Which service owns which public path."""

from __future__ import annotations

from collections.abc import Iterable

# Public path prefix -> owning service. A prefix matches itself and everything below it.
ROUTE_PREFIXES: dict[str, str] = {
    "/api/v1/auth": "auth",
    "/api/v1/audit": "auth",  # the audit trail every service writes; auth serves it to admins
    "/api/v1/products": "catalog",
    "/api/v1/categories": "catalog",
    "/api/v1/cart": "order",
    "/api/v1/orders": "order",
    "/api/v1/payments": "payment",
}


def owning_service(path: str) -> str | None:
    """The service that owns `path`, or None when no service does."""
    for prefix, service in ROUTE_PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def longest_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    """The longest of `prefixes` that `path` is, or lies below (`/a` covers `/a/b`, not `/ab`)."""
    matching = [prefix for prefix in prefixes if path == prefix or path.startswith(prefix.rstrip("/") + "/")]
    return max(matching, key=len, default=None)
