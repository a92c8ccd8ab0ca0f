"""MongoDB through PyMongo's native async API: client, start-up checks, indexes, and the one
transaction helper every multi-document write goes through."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from shared.logging import log_event
from shared.settings import CommonSettings

Document = dict[str, Any]
MongoClient = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
T = TypeVar("T")

# Collections an owning service needs, with their indexes: {"products": [IndexModel(...)]}.
CollectionIndexes = Mapping[str, Sequence[IndexModel]]

# Budget for ending a transaction whose own time ran out: it must still be aborted, or it keeps
# its document locks and every later writer of those documents waits (docs/transactions.md).
ABORT_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("shared.db")


class NotAReplicaSet(RuntimeError):
    """Transactions need a replica-set member; a standalone server is refused in production."""


def create_client(
    settings: CommonSettings, event_listeners: Sequence[monitoring._EventListener] = ()
) -> MongoClient:
    """One client per process, created in the app's lifespan. Majority writes by default.
    `event_listeners`: PyMongo monitoring (the pool metrics, shared/metrics.py)."""
    return AsyncMongoClient(
        settings.mongodb_url,
        appname=settings.service_name,
        tz_aware=True,
        w="majority",
        serverSelectionTimeoutMS=int(settings.health_check_timeout_seconds * 1000),
        event_listeners=list(event_listeners),
    )


async def server_hello(client: MongoClient, timeout_seconds: float) -> Document:
    with pymongo.timeout(timeout_seconds):
        return await client.admin.command("hello")


async def assert_replica_set(client: MongoClient, timeout_seconds: float) -> None:
    hello = await server_hello(client, timeout_seconds)
    if not hello.get("setName"):
        raise NotAReplicaSet(
            "MONGODB_URL points at a standalone server; transactions need a replica-set member "
            "(a single-node replica set is enough: start mongod with --replSet and run rs.initiate())."
        )


async def ping(client: MongoClient, timeout_seconds: float) -> None:
    with pymongo.timeout(timeout_seconds):
        await client.admin.command("ping")


async def ensure_collections(db: Database, collections: CollectionIndexes) -> None:
    """Create each owned collection and its indexes; safe to run on every start and by many replicas.

    Collections are created up front because a transaction cannot always create one implicitly.
    """
    existing = set(await db.list_collection_names())
    for name, indexes in collections.items():
        if name not in existing:
            with contextlib.suppress(CollectionInvalid):  # another replica created it first
                await db.create_collection(name)
        if indexes:
            await db[name].create_indexes(list(indexes))
    log_event(logger, "db.collections_ready", collections=sorted(collections))


class TransactionTimedOut(TimeoutError):
    """The transaction did not finish within its time budget; it was aborted and nothing was written."""


async def with_transaction(
    client: MongoClient,
    callback: Callable[[AsyncClientSession], Awaitable[T]],
    *,
    timeout_seconds: float,
) -> T:
    """Run `callback` in one multi-document transaction and commit it.

    Majority write concern and snapshot read concern; transient errors (write conflicts, unknown
    commit results) are retried by the driver with back-off until `timeout_seconds` runs out. The
    callback may run several times: it must only touch the database through the session it is
    given, with no side effects and no concurrent operations on that session.
    """
    deadline = time.monotonic() + timeout_seconds

    async def bounded(session: AsyncClientSession) -> T:
        try:
            result = await callback(session)
            if time.monotonic() >= deadline:
                raise TransactionTimedOut(f"transaction exceeded {timeout_seconds}s before commit")
            return result
        except BaseException:
            # The driver would abort under the expired deadline, which fails at once and leaves the
            # transaction open on the server, holding its locks; abort with a fresh budget instead.
            if session.in_transaction:
                await _abort_with_fresh_budget(session)
            raise

    async with client.start_session() as session:
        with pymongo.timeout(timeout_seconds):
            return await session.with_transaction(
                bounded,
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
                read_preference=ReadPreference.PRIMARY,
            )


async def _abort_with_fresh_budget(session: AsyncClientSession) -> None:
    async def abort() -> None:
        with pymongo.timeout(ABORT_TIMEOUT_SECONDS):
            await session.abort_transaction()

    try:
        # A new, empty context: pymongo.timeout only ever shortens an enclosing deadline.
        await asyncio.create_task(abort(), context=contextvars.Context())
    except PyMongoError:
        logger.warning("db.transaction_abort_failed", exc_info=True)
