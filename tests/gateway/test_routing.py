"""Which service owns which path, and which headers the gateway forwards."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway.proxy import upstream_headers
from gateway.routing import owning_service
from services.order.settings import OrderSettings
from shared.forwarding import INTERNAL_TOKEN_HEADER, client_ip


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth/login", "auth"),
        ("/api/v1/auth", "auth"),
        ("/api/v1/products", "catalog"),
        ("/api/v1/products/665f1c2ab8e4d1a9c3f0b7d2", "catalog"),
        ("/api/v1/categories", "catalog"),
        ("/api/v1/cart/items/1", "order"),
        ("/api/v1/orders", "order"),
        ("/api/v1/payments/webhooks/stripe", "payment"),
        ("/api/v1/productsXYZ", None),
        ("/api/v1/authority", None),
        ("/api/v2/products", None),
        ("/health", None),
        ("/", None),
    ],
)
def test_owning_service(path: str, service: str | None) -> None:
    assert owning_service(path) == service


def make_request(headers: dict[str, str], client: tuple[str, int] = ("203.0.113.9", 5555)) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/orders",
        "query_string": b"",
        "scheme": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": client,
        "server": ("gateway", 8000),
        "state": {"request_id": "rid-1"},
    }
    return Request(scope)


def test_gateway_replaces_what_only_it_may_say() -> None:
    request = make_request(
        {
            "Host": "shop.example",
            "X-Internal-Token": "forged",
            "X-Forwarded-For": "10.0.0.1",
            "X-Request-ID": "client-chosen",
            "Connection": "keep-alive",
            "Authorization": "Bearer abc",
        }
    )
    headers = dict(upstream_headers(request.scope, "real-token"))
    assert headers[INTERNAL_TOKEN_HEADER] == "real-token"
    assert headers["X-Forwarded-For"] == "203.0.113.9"
    assert headers["X-Request-ID"] == "rid-1"
    assert headers["X-Forwarded-Host"] == "shop.example"
    assert headers["authorization"] == "Bearer abc"
    assert "connection" not in {name.lower() for name in headers}
    assert "forged" not in headers.values()


def test_services_trust_forwarded_addresses_only_from_the_gateway() -> None:
    settings = OrderSettings(_env_file=None, env="test", internal_token="t" * 40)
    vouched = make_request(
        {"X-Forwarded-For": "198.51.100.7", "X-Internal-Token": "t" * 40}, ("127.0.0.1", 1)
    )
    forged = make_request({"X-Forwarded-For": "198.51.100.7", "X-Internal-Token": "wrong"}, ("127.0.0.1", 1))
    assert client_ip(vouched, settings) == "198.51.100.7"
    assert client_ip(forged, settings) == "127.0.0.1"
