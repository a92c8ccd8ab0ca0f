"""Connecting to the shop's database, with every failure turned into one line that names its cause."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError, ServerSelectionTimeoutError

from shared.db import Document, MongoClient
from shared.mongodb_url import where
from shop.console import EXIT_USAGE, OperatorError

AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
CONNECT_TIMEOUT_SECONDS = 10.0


def describe_failure(exc: PyMongoError, url: str) -> str:
    """What went wrong talking to the server at `url`, without the credentials the URL may hold."""
    host = where(url)
    if isinstance(exc, OperationFailure) and exc.code == AUTHENTICATION_FAILED:
        return f"the database at {host} refused the credentials in MONGODB_URL (authentication failed)"
    if isinstance(exc, OperationFailure) and exc.code == UNAUTHORIZED:
        return f"the user in MONGODB_URL may not do this on {host} ({first_line(exc)})"
    if isinstance(exc, ServerSelectionTimeoutError):
        return f"cannot reach the database at {host} ({first_line(exc)})"
    return f"the database at {host} failed: {type(exc).__name__}: {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    text = str(exc).split(", full error:")[0].split(", Timeout:")[0]
    return text.splitlines()[0][:200] if text else type(exc).__name__


@asynccontextmanager
async def connected(
    url: str, *, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS
) -> AsyncIterator[MongoClient]:
    """A client whose server answered a ping; OperatorError (one line) when it cannot be reached."""
    try:
        client: MongoClient = AsyncMongoClient(
            url,
            appname="shop-cli",
            tz_aware=True,
            w="majority",
            serverSelectionTimeoutMS=int(timeout_seconds * 1000),
        )
    except ConfigurationError as exc:
        raise OperatorError(f"MONGODB_URL is not usable: {first_line(exc)}", EXIT_USAGE) from None
    try:
        try:
            with pymongo.timeout(timeout_seconds):
                await client.admin.command("ping")
        except PyMongoError as exc:
            raise OperatorError(describe_failure(exc, url)) from None
        yield client
    finally:
        await client.close()


async def server_description(client: MongoClient) -> Document:
    """What the manifest records of the server: version, replica set (and the embedded server's version)."""
    build = await client.admin.command("buildInfo")
    hello = await client.admin.command("hello")
    description: Document = {
        "version": build.get("version"),
        "set_name": hello.get("setName"),
        "host": hello.get("me"),
    }
    if build.get("secantusVersion"):
        description["secantus_version"] = build["secantusVersion"]
    return description
