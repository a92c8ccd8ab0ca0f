"""App factory of the payment service (run with `uvicorn --factory services.payment.app:create_app`)."""

from fastapi import FastAPI

from services.payment.collections import COLLECTIONS
from services.payment.settings import PaymentSettings, get_settings
from shared.app import create_service_app


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Payment service",
        collections=COLLECTIONS,
    )
