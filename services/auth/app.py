"""App factory of the auth service (run with `uvicorn --factory services.auth.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.auth.audit.router import router as audit_router
from services.auth.collections import COLLECTIONS
from services.auth.passwords.hashing import Argon2Parameters, PasswordHasher
from services.auth.sessions.router import router as sessions_router
from services.auth.settings import AuthSettings, get_settings
from services.auth.tokens.audit import record_signing_key
from services.auth.tokens.keys import KeyRing
from services.auth.tokens.router import router as tokens_router
from services.auth.users.router import router as users_router
from services.auth.users.service import ensure_bootstrap_admin
from shared.app import create_service_app
from shared.tokens import StaticKeySet, TokenVerifier


@asynccontextmanager
async def own_keys_verifier(app: FastAPI) -> AsyncIterator[None]:
    """The auth service signs the tokens, so it verifies them with its own keys, without JWKS."""
    settings: AuthSettings = app.state.settings
    ring = KeyRing.from_settings(settings)
    app.state.key_ring = ring
    app.state.token_verifier = TokenVerifier(
        StaticKeySet(ring.public_keys),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )
    yield


@asynccontextmanager
async def accounts(app: FastAPI) -> AsyncIterator[None]:
    settings: AuthSettings = app.state.settings
    parameters = Argon2Parameters(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    app.state.password_hasher = PasswordHasher(parameters, max_concurrency=settings.password_hash_concurrency)
    # The first login for an unknown email must not take longer than the rest (timing oracle).
    await app.state.password_hasher.warm_up()
    await ensure_bootstrap_admin(app.state.db, app.state.password_hasher, settings)
    await record_signing_key(app.state.db, app.state.key_ring)
    yield


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Auth service",
        collections=COLLECTIONS,
        routers=[users_router, sessions_router, tokens_router, audit_router],
        token_verifier=own_keys_verifier,
        lifespans=[accounts],
    )
