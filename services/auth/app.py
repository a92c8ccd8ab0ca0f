"""App factory of the auth service (run with `uvicorn --factory services.auth.app:create_app`)."""

from fastapi import FastAPI

from services.auth.collections import COLLECTIONS
from services.auth.settings import AuthSettings, get_settings
from shared.app import create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Auth service",
        collections=COLLECTIONS,
    )
