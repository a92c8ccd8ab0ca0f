"""`Annotated` dependencies that make up the services' vocabulary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.context import ServiceContext
from shared.db import Database, MongoClient
from shared.errors import Unauthorized
from shared.tokens import AdminRequired, Principal, TokenVerifier


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_mongo_client(request: Request) -> MongoClient:
    client: MongoClient = request.app.state.mongo_client
    return client


def get_context(request: Request) -> ServiceContext[Any]:
    """The service's context (client, database, settings, transactions), built at start-up."""
    context: ServiceContext[Any] = request.app.state.context
    return context


Db = Annotated[Database, Depends(get_db)]
Mongo = Annotated[MongoClient, Depends(get_mongo_client)]


_bearer = HTTPBearer(auto_error=False, description="An access token from `POST /api/v1/auth/login`.")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from a valid bearer access token; 401 otherwise."""
    if credentials is None:
        raise Unauthorized("Send an access token: `Authorization: Bearer <token>`.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


async def optional_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """The caller when a bearer token is sent (which must then be valid), None for anonymous calls."""
    if credentials is None:
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    """The caller, who must hold the admin role; 403 otherwise."""
    if not user.is_admin:
        raise AdminRequired()
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
