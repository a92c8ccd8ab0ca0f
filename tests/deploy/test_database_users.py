"""Each service's database user, provisioned by deploy/mongodb/provision.py on a server with
authentication: it can set up and use its own collections, and nothing a service never does.

Measured on the embedded server (SecantusDB 0.7): users, SCRAM-SHA-256, built-in roles and custom
roles are enforced per action and per database, but a privilege's collection is not: an action
granted on one collection is allowed on every collection of that database. So the tests that a
user cannot touch another service's collections run only against MongoDB (MONGODB_ADMIN_URL, as
the hosted CI workflow does), and say so when skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

from deploy.mongodb import provision
from deploy.mongodb.roles import PRINCIPALS, SERVICES, principal
from shared.db import CollectionIndexes, ensure_collections
from tests.deploy.conftest import AuthServer
from tests.deploy.service_collections import SERVICE_COLLECTIONS

UNAUTHORIZED = 13


@pytest.fixture(scope="module")
def shop_db() -> str:
    return f"shop_users_{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def urls(
    auth_server: AuthServer, shop_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Every principal's URL, written as the secret files the provisioning job reads, then provisioned."""
    directory: Path = tmp_path_factory.mktemp("secrets")
    (directory / provision.ADMIN_URL_FILE).write_text(auth_server.admin_url)
    found = {}
    for who in PRINCIPALS:
        # Percent-encoded characters in the password must reach the server decoded.
        url = auth_server.url(f"{who.name}_{shop_db}", secrets.token_urlsafe(18) + "%2F%3A", shop_db)
        (directory / f"mongodb_url_{who.name}").write_text(url + "\n")
        found[who.name] = url
    assert provision.main(["--secrets-dir", str(directory), "--db", shop_db]) == 0
    yield found
    with connect(auth_server.admin_url) as admin:
        admin.drop_database(shop_db)
        admin[shop_db].command("dropAllUsersFromDatabase")
        admin[shop_db].command("dropAllRolesFromDatabase")


def connect(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url)


def refused(action: Callable[[], object]) -> None:
    with pytest.raises(OperationFailure) as caught:
        action()
    assert caught.value.code == UNAUTHORIZED, caught.value


def test_provisioning_converges_when_run_again(
    urls: dict[str, str],
    shop_db: str,
    tmp_path: Path,
    auth_server: AuthServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / provision.ADMIN_URL_FILE).write_text(auth_server.admin_url)
    for name, url in urls.items():
        (tmp_path / f"mongodb_url_{name}").write_text(url)
    assert provision.main(["--secrets-dir", str(tmp_path), "--db", shop_db]) == 0
    out = capsys.readouterr().out
    assert out.count(" updated") >= len(SERVICES)
    assert " created" not in out
    password = urls["order"].split(":")[2].split("@")[0]
    assert password not in out  # no password is ever printed
    with connect(auth_server.admin_url) as admin:
        for name in SERVICES:
            who = principal(name)
            stored = admin[shop_db].command("rolesInfo", who.role_name, showPrivileges=True)["roles"][0]
            assert sorted(map(str, stored["privileges"])) == sorted(map(str, who.privileges(shop_db)))


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_sets_up_and_uses_its_collections_as_its_own_user(
    urls: dict[str, str], shop_db: str, service: str
) -> None:
    owned: CollectionIndexes = SERVICE_COLLECTIONS[service]
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(urls[service])
    try:
        db = client[shop_db]
        await ensure_collections(db, owned)  # what start-up does: list, create, index
        await ensure_collections(db, owned)  # and again, as every restart and replica does
        first = sorted(owned)[0]
        inserted = await db[first].insert_one({"probe": service})
        assert await db[first].find_one({"_id": inserted.inserted_id}) is not None
        await db[first].delete_one({"_id": inserted.inserted_id})
    finally:
        await client.close()


def test_the_backup_user_reads_and_never_writes(urls: dict[str, str], shop_db: str) -> None:
    with connect(urls["backup"]) as client:
        db = client[shop_db]
        assert "orders" in db.list_collection_names()
        db.orders.find_one()
        refused(lambda: db.orders.insert_one({"x": 1}))
        refused(lambda: db.products.update_many({}, {"$set": {"stock": 0}}))
        refused(lambda: db.users.delete_many({}))


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_drops_collections_manages_users_or_reaches_another_database(
    urls: dict[str, str], shop_db: str, service: str
) -> None:
    with connect(urls[service]) as client:
        db = client[shop_db]
        refused(lambda: db.drop_collection(principal(service).owns[0]))
        refused(lambda: db.command("createUser", "intruder", pwd="x" * 24, roles=["readWrite"]))
        refused(lambda: db.command("grantRolesToUser", f"{service}_{shop_db}", roles=["dbOwner"]))
        refused(lambda: client["admin"].command("listDatabases"))
        refused(lambda: client[f"{shop_db}_other"].anything.find_one())


@pytest.mark.parametrize(
    ("service", "collection"),
    [("order", "users"), ("catalog", "orders"), ("payment", "users"), ("auth", "products")],
)
def test_a_service_cannot_write_what_it_neither_owns_nor_crosses(
    auth_server: AuthServer, urls: dict[str, str], shop_db: str, service: str, collection: str
) -> None:
    if auth_server.embedded:
        pytest.skip("the embedded server applies collection privileges to the whole database (measured)")
    with connect(urls[service]) as client:
        db = client[shop_db]
        refused(lambda: db[collection].insert_one({"x": 1}))
        refused(lambda: db[collection].update_many({}, {"$set": {"x": 1}}))


def test_crossings_allow_only_what_their_adapters_do(
    auth_server: AuthServer, urls: dict[str, str], shop_db: str
) -> None:
    if auth_server.embedded:
        pytest.skip("the embedded server applies collection privileges to the whole database (measured)")
    with connect(urls["order"]) as order, connect(urls["payment"]) as payment:
        order[shop_db].products.update_many({"_id": None}, {"$inc": {"stock": 1}})  # stock: allowed
        refused(lambda: order[shop_db].products.insert_one({"name": "forged"}))
        refused(lambda: order[shop_db].products.delete_many({}))
        payment[shop_db].products.update_many({"_id": None}, {"$inc": {"stock": 1}})
        refused(lambda: payment[shop_db].products.find_one())  # returns units, never reads the catalog
        refused(lambda: payment[shop_db].outbox.insert_one({"type": "forged"}))
        refused(lambda: payment[shop_db].orders.delete_many({}))
