"""Who may do what in the shop's database: one MongoDB user per process, least privilege.

Each service owns the collections its `collections.py` creates (docs/architecture.md) and may read,
write, create and index only those; the three designed crossings add exactly the actions their
adapter modules perform, nothing more:

- order -> `products`: read prices, take and return stock (services/order/catalog/repository.py);
- payment -> `orders`: pay an order, move a refund's money status and line counters;
  `products`: return refunded units (update only); the order `outbox`: read closed orders' events
  (services/payment/orders/repository.py).

The audit trail (`audit`, shared/audit.py) is owned by auth, which creates it and serves it to
admins; the other services may only insert into it, never read, change or remove a record.

The operator's tool gets two more users: `backup` reads everything (shop backup, audit-data,
launch-check) and `restore` may rewrite the database (shop restore, run by hand). The gateway keeps
no data and has no user. The table in docs/deployment.md is this module in prose; a test keeps the
two, and every service's collections, in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What an owner does with its collections: queries, writes, deletes (TTL-less clean-ups and cart
# lines), and the start-up creation of the collection and its indexes (shared/db.py).
OWNER_ACTIONS = ("find", "insert", "update", "remove", "createCollection", "createIndex", "listIndexes")
# What a service that audits but does not own the trail may do there: append, nothing else.
AUDIT_APPEND = {"audit": ("insert",)}
# Start-up lists the database's collections to create only the missing ones (names only, no data).
DATABASE_ACTIONS = ("listCollections",)


@dataclass(frozen=True)
class Principal:
    """One database user: a custom role over named collections, or a built-in role on the database."""

    name: str
    owns: tuple[str, ...] = ()
    # Collections another service owns -> the actions the crossing needs there.
    crosses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    builtin_role: str | None = None  # "read" / "readWrite" on the shop database, for the operator's tool
    purpose: str = ""

    @property
    def role_name(self) -> str:
        return self.builtin_role or f"shop_{self.name}"

    def privileges(self, db: str) -> list[dict[str, Any]]:
        """The createRole privileges of a custom role, scoped to collections of `db`."""
        if self.builtin_role:
            return []
        owned = [
            {"resource": {"db": db, "collection": name}, "actions": list(OWNER_ACTIONS)} for name in self.owns
        ]
        crossed = [
            {"resource": {"db": db, "collection": name}, "actions": list(actions)}
            for name, actions in self.crosses.items()
        ]
        database = {"resource": {"db": db, "collection": ""}, "actions": list(DATABASE_ACTIONS)}
        return [*owned, *crossed, database]

    def writable(self) -> set[str]:
        """Collections this principal may change in any way (owned, or crossed with a write action)."""
        if self.builtin_role == "readWrite":
            return {"*"}
        writes = {"insert", "update", "remove"}
        return set(self.owns) | {name for name, actions in self.crosses.items() if writes & set(actions)}


PRINCIPALS: tuple[Principal, ...] = (
    Principal(
        "auth",
        owns=("users", "token_families", "refresh_tokens", "login_failures", "audit"),
        purpose="accounts, sessions and login throttling; the audit trail",
    ),
    Principal(
        "catalog",
        owns=("categories", "products", "stock_adjustments"),
        crosses={**AUDIT_APPEND},
        purpose="products, prices and stock",
    ),
    Principal(
        "order",
        owns=("carts", "orders", "checkout_guards", "idempotency_keys", "outbox"),
        crosses={"products": ("find", "update"), **AUDIT_APPEND},
        purpose="carts and orders; prices read and stock taken or returned at checkout, cancel and expiry",
    ),
    Principal(
        "payment",
        owns=(
            "payments",
            "payment_attempts",
            "provider_events",
            "refunds",
            "payment_outbox",
            "sandbox_ledger",
        ),
        crosses={"orders": ("find", "update"), "products": ("update",), "outbox": ("find",), **AUDIT_APPEND},
        purpose="payments and refunds; orders paid and refunded, refunded units returned, closed orders read",
    ),
    Principal("backup", builtin_role="read", purpose="shop backup, audit-data, launch-check (read-only)"),
    Principal("restore", builtin_role="readWrite", purpose="shop restore, run by an operator only"),
)
SERVICES = ("auth", "catalog", "order", "payment")


def principal(name: str) -> Principal:
    for candidate in PRINCIPALS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
