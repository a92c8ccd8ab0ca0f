"""App factory of the order service (run with `uvicorn --factory services.order.app:create_app`)."""

from fastapi import FastAPI

from services.order.carts.router import router as carts_router
from services.order.collections import collections
from services.order.orders.expiry import reaper_lifespan
from services.order.orders.migration import migration_lifespan
from services.order.orders.router import router as orders_router
from services.order.settings import OrderSettings, get_settings
from shared.app import create_service_app


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Order service",
        collections=collections(settings.idempotency_key_ttl_seconds),
        routers=[carts_router, orders_router],
        lifespans=[migration_lifespan, reaper_lifespan],
    )
