"""The transaction helper against the real database server (embedded, or MONGODB_URL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pymongo
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from devstack.stack import Stack
from shared.db import (
    Database,
    Document,
    MongoClient,
    TransactionTimedOut,
    ensure_collections,
    with_transaction,
)


class Boom(Exception):
    pass


@pytest.fixture(scope="module")
async def client(stack: Stack) -> AsyncIterator[MongoClient]:
    mongo: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True, w="majority")
    yield mongo
    await mongo.close()


@pytest.fixture(scope="module")
async def collection_db(client: MongoClient, database_name: str) -> Database:
    """The collections exist before any transaction uses them, as the services ensure at start-up:
    a collection created implicitly inside a transaction blocks writers outside it until it ends."""
    db = client[database_name]
    await ensure_collections(db, {"tx_counters": [], "tx_docs": []})
    return db


async def test_concurrent_transactions_on_one_document_all_commit(
    client: MongoClient, collection_db: Database
) -> None:
    counter_id = ObjectId()
    await collection_db.tx_counters.insert_one({"_id": counter_id, "n": 0, "seen": []})

    async def increment(worker: int) -> int:
        async def callback(session: AsyncClientSession) -> int:
            doc = await collection_db.tx_counters.find_one({"_id": counter_id}, session=session)
            assert doc is not None
            # Read-then-write inside the transaction: any interleaving is a write conflict to retry.
            await collection_db.tx_counters.update_one(
                {"_id": counter_id}, {"$set": {"n": doc["n"] + 1}, "$push": {"seen": worker}}, session=session
            )
            return worker

        return await with_transaction(client, callback, timeout_seconds=60)

    workers = 30
    results = await asyncio.gather(*(increment(i) for i in range(workers)))
    final = await collection_db.tx_counters.find_one({"_id": counter_id})
    assert final is not None
    assert sorted(results) == list(range(workers))
    assert final["n"] == workers
    assert sorted(final["seen"]) == list(range(workers))


async def test_aborted_transaction_leaves_nothing_and_plain_writes_survive(
    client: MongoClient, collection_db: Database
) -> None:
    inside, outside = ObjectId(), ObjectId()

    async def callback(session: AsyncClientSession) -> None:
        await collection_db.tx_docs.insert_one({"_id": inside}, session=session)
        await collection_db.tx_docs.update_one({"_id": outside}, {"$set": {"plain": True}}, upsert=True)
        raise Boom

    with pytest.raises(Boom):
        await with_transaction(client, callback, timeout_seconds=10)
    assert await collection_db.tx_docs.find_one({"_id": inside}) is None
    assert await collection_db.tx_docs.find_one({"_id": outside}) == {"_id": outside, "plain": True}


async def test_transaction_sees_a_snapshot(client: MongoClient, collection_db: Database) -> None:
    doc_id = ObjectId()
    await collection_db.tx_docs.insert_one({"_id": doc_id, "v": 1})

    async def callback(session: AsyncClientSession) -> tuple[Document | None, Document | None]:
        first = await collection_db.tx_docs.find_one({"_id": doc_id}, session=session)
        await collection_db.tx_docs.update_one({"_id": doc_id}, {"$set": {"v": 2}})  # outside the transaction
        second = await collection_db.tx_docs.find_one({"_id": doc_id}, session=session)
        return first, second

    first, second = await with_transaction(client, callback, timeout_seconds=10)
    assert first == second == {"_id": doc_id, "v": 1}


async def test_transaction_out_of_time_is_aborted_and_releases_its_locks(
    client: MongoClient, collection_db: Database
) -> None:
    doc_id = ObjectId()
    await collection_db.tx_docs.insert_one({"_id": doc_id, "v": 0})

    async def slow(session: AsyncClientSession) -> None:
        await collection_db.tx_docs.update_one(
            {"_id": doc_id}, {"$set": {"v": "from-transaction"}}, session=session
        )
        await asyncio.sleep(1.0)  # the budget runs out while the transaction holds the document

    with pytest.raises((TransactionTimedOut, pymongo.errors.PyMongoError)):
        await with_transaction(client, slow, timeout_seconds=0.5)

    started = time.monotonic()
    with pymongo.timeout(5):
        await collection_db.tx_docs.update_one({"_id": doc_id}, {"$set": {"v": "after"}})
    assert time.monotonic() - started < 5
    assert await collection_db.tx_docs.find_one({"_id": doc_id}) == {"_id": doc_id, "v": "after"}
