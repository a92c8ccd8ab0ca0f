"""A small database of its own for the operator tool's tests, on the session stack's server: every kind
of value, unique, compound, partial and TTL indexes, a validator, and an empty collection."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from devstack.stack import Stack
from shared.db import Database
from shared.db import MongoClient as AsyncClient
from tests.conftest import session_client

PRODUCTS = 400
ORDERS = 300


@pytest.fixture(scope="session")
async def mongo(stack: Stack) -> AsyncIterator[AsyncClient]:
    client = session_client(stack.mongodb_url)
    yield client
    await client.close()


async def fill(db: Database) -> None:
    """Documents whose every BSON type must come back exactly (dates, decimals, binary, nesting)."""
    await db.create_collection(
        "notes", validator={"$jsonSchema": {"bsonType": "object", "required": ["text"]}}
    )
    await db.create_collection("empty")
    await db.empty.create_indexes(
        [IndexModel([("created_at", ASCENDING)], expireAfterSeconds=3600, name="ttl")]
    )
    await db.products.create_indexes([
        IndexModel([("sku", ASCENDING)], unique=True, name="sku_unique"),
        IndexModel([("active", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                   name="active_newest"),
        IndexModel([("code", ASCENDING)], unique=True, partialFilterExpression={"code": {"$type": "string"}},
                   name="code_partial"),
    ])  # fmt: skip
    start = datetime(2025, 1, 1, tzinfo=UTC)
    await db.products.insert_many([
        {
            "_id": ObjectId(), "sku": f"SKU-{i:05d}", "name": f"Product {i} — ünïcode", "stock": i % 37,
            "price": {"amount": 100 + i, "currency": "BDT"}, "active": i % 5 != 0,
            "created_at": start + timedelta(minutes=i), "weight": Decimal128(Decimal(f"{i}.125")),
            "tags": ["a", "b", str(i)], "blob": secrets.token_bytes(16), "ratio": i / 7,
        }
        for i in range(PRODUCTS)
    ])  # fmt: skip
    await db.orders.insert_many([
        {"_id": ObjectId(), "user_id": f"user-{i % 17}", "status": "pending_payment", "items": [], "n": i}
        for i in range(ORDERS)
    ])  # fmt: skip
    await db.notes.insert_one({"text": "validated"})


@pytest.fixture(scope="session")
async def source_db(mongo: AsyncClient) -> AsyncIterator[Database]:
    """The database the backup tests back up (never written to by them)."""
    db = mongo[f"ops_{secrets.token_hex(4)}"]
    await fill(db)
    yield db
    await mongo.drop_database(db.name)


@pytest.fixture
async def empty_db(mongo: AsyncClient) -> AsyncIterator[Database]:
    """A database name with nothing in it, dropped afterwards."""
    db = mongo[f"ops_target_{secrets.token_hex(4)}"]
    yield db
    await mongo.drop_database(db.name)
