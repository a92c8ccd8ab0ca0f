"""Which service owns which public path."""

from __future__ import annotations

# Public path prefix -> owning service. A prefix matches itself and everything below it.
ROUTE_PREFIXES: dict[str, str] = {
    "/api/v1/auth": "auth",
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
