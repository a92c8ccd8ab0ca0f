"""App factory of the gateway (run with `uvicorn --factory gateway.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.health import aggregate_health_router
from gateway.proxy import create_http_client, proxy_router
from gateway.settings import GatewaySettings, get_settings
from shared.app import create_base_app, redis_lifespan


@asynccontextmanager
async def http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with create_http_client(app.state.settings) as client:
        app.state.http = client
        yield


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    return create_base_app(
        settings or get_settings(),
        title="Shop API",
        description="Public REST API of the shop: auth, catalog, cart and orders, payments.",
        routers=[aggregate_health_router(), proxy_router()],
        lifespans=[http_client_lifespan, redis_lifespan],
    )
