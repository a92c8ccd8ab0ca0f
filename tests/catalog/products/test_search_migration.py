"""The start-up migration that gives products stored before prefix entries existed their search terms.

A search word is looked up as one exact entry of `search_terms` (the last word by its prefix entry,
`darj*`), so a product stored with words only is invisible to a search by prefix until the
migration has rewritten its terms. It runs at every start: it must change nothing the second time,
and never overwrite a product edited since it was read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId

from devstack.stack import Stack
from services.catalog.products import repository
from services.catalog.products.migration import refresh_search_terms
from services.catalog.products.search import PREFIX_MARK, tokens
from shared.db import Database
from tests.builders import make_category, make_product
from tests.conftest import stack_settings

STARTUP_WAIT_SECONDS = 60.0


async def stored_before_prefixes(gateway: httpx.AsyncClient, admin: dict[str, str], db: Database) -> Any:
    """A product whose stored search terms are words only, as products were stored before."""
    category = await make_category(gateway, admin)
    product = await make_product(gateway, admin, category=category, name="Darjeeling Tea")
    _id = ObjectId(product["id"])
    stored = await db.products.find_one({"_id": _id})
    assert stored is not None
    words = [term for term in stored["search_terms"] if not term.endswith(PREFIX_MARK)]
    await db.products.update_one({"_id": _id}, {"$set": {"search_terms": words}})
    return category, product


async def found(gateway: httpx.AsyncClient, category: str, q: str) -> list[str]:
    response = await gateway.get("/api/v1/products", params={"category": category, "q": q})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_the_migration_makes_old_products_searchable_by_prefix_once(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    category, product = await stored_before_prefixes(gateway, admin, db)
    assert await found(gateway, category, "darjeeling tea") == [product["id"]]  # a whole word still leads
    assert await found(gateway, category, "darj") == []  # prefixes need the migration

    assert await refresh_search_terms(db) >= 1
    assert await found(gateway, category, "darj") == [product["id"]]
    stored = await db.products.find_one({"_id": ObjectId(product["id"])})
    assert stored is not None
    assert stored["version"] == product["version"]  # what the API shows did not change

    assert await refresh_search_terms(db) == 0  # idempotent: nothing left to rewrite


async def test_the_migration_never_overwrites_an_edit_made_since_it_read(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    _, product = await stored_before_prefixes(gateway, admin, db)
    _id = ObjectId(product["id"])
    # An edit lands between the migration's read and its write: the version it read is gone.
    await db.products.update_one({"_id": _id}, {"$inc": {"version": 1}, "$set": {"search_terms": ["edited"]}})
    assert not await repository.set_search_terms(db, _id, product["version"], ["stale"])
    stored = await db.products.find_one({"_id": _id})
    assert stored is not None
    assert stored["search_terms"] == ["edited"]


@pytest.fixture
def second_catalog(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A catalog service started beside the session's, on its database (as a new replica would be)."""
    root = tmp_path_factory.mktemp("catalog_replica")
    replica = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    replica.child_env = {**stack.child_env, "DATA_DIR": str(root / "data")}
    try:
        yield replica
    finally:
        replica.stop()


async def test_a_starting_catalog_runs_the_migration(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, second_catalog: Stack
) -> None:
    category, product = await stored_before_prefixes(gateway, admin, db)
    second_catalog.start_app("catalog", env={"LOG_LEVEL": "INFO"})
    assert second_catalog.log_dir is not None
    event = await logged_event(second_catalog.log_dir / "catalog.log", "catalog.search_terms_refreshed")
    assert event["products"] >= 1
    assert await found(gateway, category, "darj") == [product["id"]]
    stored = await db.products.find_one({"_id": ObjectId(product["id"])})
    assert stored is not None
    assert set(tokens("Darjeeling Tea")) <= set(stored["search_terms"])


async def logged_event(log: Path, event: str) -> dict[str, Any]:
    """The first log line of `event`, once the process has written it (the pass runs in the background)."""
    for _ in range(int(STARTUP_WAIT_SECONDS * 10)):
        fields = first_logged(log, event)
        if fields is not None:
            return fields
        await asyncio.sleep(0.1)
    raise AssertionError(f"{event} was not logged in {STARTUP_WAIT_SECONDS:.0f}s")


def first_logged(log: Path, event: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines() if log.exists() else []:
        if f'"{event}"' in line:
            fields: dict[str, Any] = json.loads(line)
            return fields
    return None
