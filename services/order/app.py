"""App factory of the order service (run with `uvicorn --factory services.order.app:create_app`)."""

from fastapi import FastAPI

from services.order.collections import COLLECTIONS
from services.order.settings import OrderSettings, get_settings
from shared.app import create_service_app


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Order service",
        collections=COLLECTIONS,
    )
