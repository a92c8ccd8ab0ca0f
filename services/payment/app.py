"""App factory of the payment service (run with `uvicorn --factory services.payment.app:create_app`)."""

from fastapi import FastAPI

from services.payment import callbacks
from services.payment.collections import COLLECTIONS
from services.payment.context import payment_context_lifespan
from services.payment.payments.reconciliation import reconciler_lifespan
from services.payment.payments.router import router as payments_router
from services.payment.settings import PaymentSettings, get_settings
from shared.app import create_service_app


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Payment service",
        collections=COLLECTIONS,
        # Provider routes first: their fixed paths (/sandbox/..., /webhooks/...) beat /{payment_id}.
        routers=[*callbacks.routers(settings), payments_router],
        lifespans=[payment_context_lifespan, reconciler_lifespan],
    )
