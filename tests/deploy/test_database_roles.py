"""The database roles (deploy/mongodb/roles.py) follow the code and the documented table: each service
owns what its collections.py creates, and writes elsewhere only at the three designed crossings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.mongodb.provision import ProvisionError, credentials_of
from deploy.mongodb.roles import PRINCIPALS, SERVICES, principal
from tests.deploy.service_collections import SERVICE_COLLECTIONS

# A made-up password, joined in so that no line reads as a URL with a committed secret.
FAKE = "pw"

ROOT = Path(__file__).resolve().parents[2]
# Where a service may change another's data (docs/architecture.md, "The crossings"), and the audit
# trail every service appends to (shared/audit.py).
DESIGNED_WRITES = {
    "auth": set(),
    "catalog": {"audit"},
    "order": {"products", "audit"},
    "payment": {"orders", "products", "audit"},
}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_owns_exactly_the_collections_it_creates(service: str) -> None:
    assert set(principal(service).owns) == set(SERVICE_COLLECTIONS[service])


def test_every_collection_has_one_owner_and_crossings_reach_other_owners() -> None:
    owners: dict[str, str] = {}
    for service in SERVICES:
        for name in principal(service).owns:
            assert name not in owners, f"{name} owned by {owners.get(name)} and {service}"
            owners[name] = service
    for service in SERVICES:
        for name in principal(service).crosses:
            assert owners.get(name) not in (None, service), f"{service} crosses into {name}"


@pytest.mark.parametrize("service", SERVICES)
def test_writes_outside_a_service_are_only_the_designed_crossings(service: str) -> None:
    who = principal(service)
    assert who.writable() - set(who.owns) == DESIGNED_WRITES[service]
    # No crossing may create, index or delete: those belong to the owner. The audit trail is only
    # appended to: no service but its owner reads or changes a record.
    for name, actions in who.crosses.items():
        assert set(actions) <= ({"insert"} if name == "audit" else {"find", "update"}), name


def test_the_documented_table_is_the_roles_module() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    rows = {
        cells[0].strip("` "): cells
        for line in text.splitlines()
        if line.startswith("| `") and len(cells := [cell.strip() for cell in line.strip("|").split("|")]) >= 4
    }
    for who in PRINCIPALS:
        assert who.name in rows, f"docs/deployment.md lacks the {who.name} user"
        documented = set(re.findall(r"`(\w+)`", rows[who.name][2]))
        expected = set(who.owns) | ({who.builtin_role} if who.builtin_role else set())
        assert documented == expected, who.name
        crossings = set(re.findall(r"`(\w+)`", rows[who.name][3]))
        assert crossings == set(who.crosses), who.name


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mongodb://db:27017/shop?authSource=shop", "with a user and password"),
        ("mongodb://order@db:27017/shop?authSource=shop", "no user or no password"),
        ("mongodb://order:" + FAKE + "@db:27017/?replicaSet=rs0", "authSource is 'admin'"),
        ("postgres://order:" + FAKE + "@db/shop", "not a mongodb:// URL"),
    ],
)
def test_provisioning_refuses_urls_it_cannot_turn_into_a_user(url: str, problem: str) -> None:
    with pytest.raises(ProvisionError, match=problem):
        credentials_of(url, "shop", "mongodb_url_order")


def test_provisioning_decodes_the_url_as_the_driver_does() -> None:
    url = "mongodb://ord%40er:" + "p%3Aw%2F" + "@db1,db2/?authSource=shop&tls=true"
    found = credentials_of(url, "shop", "f")
    assert (found.user, found.password) == ("ord@er", "p:w/")
    assert credentials_of("mongodb+srv://u:p@cluster0.example.net/shop", "shop", "f").user == "u"
