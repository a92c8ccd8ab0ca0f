"""The audit trail: who did what to which thing, when, from where, and what it was before and after.

Every privileged or money-moving action writes one append-only record to the `audit` collection:
admins' product, price, stock and category changes (catalog), fulfilment steps and admin cancels
(order), refunds asked and settled (payment), logins, failed and throttled logins, role grants and
signing-key rotations (auth). Where the change runs in a transaction the record is written in that
transaction (`write(db, record, session)`), so a record exists exactly when the change committed;
a single-document change (a product patch, say) writes its record right after it succeeded.

Records are never changed: services only insert (their database users may do nothing else there,
deploy/mongodb/roles.py), and the one reader, the auth service's `GET /api/v1/audit` for admins,
has no method that writes. The auth service owns the collection and creates it, with its indexes,
at start-up; an admin's token (which every audited change needs) exists only once auth is up.

What a record may hold is chosen by its caller, field by field, and `redacted` drops anything named
like a secret on top (passwords, hashes, tokens, keys' private halves), so no secret ever reaches
the trail even if a caller passes a whole document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from bson import ObjectId
from fastapi import Depends, Request
from opentelemetry import trace
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.clock import utcnow
from shared.db import Database, Document
from shared.forwarding import client_ip
from shared.logging import current_request_id
from shared.tokens import Principal

AUDIT_COLLECTION = "audit"


class Action(StrEnum):
    """What was done: `<thing>.<verb>`, a closed list so filters and alerts can rely on it."""

    PRODUCT_CREATED = "product.created"
    PRODUCT_CHANGED = "product.changed"
    PRODUCT_DEACTIVATED = "product.deactivated"
    STOCK_ADJUSTED = "stock.adjusted"
    CATEGORY_CREATED = "category.created"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    ORDER_CANCELLED = "order.cancelled"
    REFUND_REQUESTED = "refund.requested"
    REFUND_SETTLED = "refund.settled"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_THROTTLED = "login.throttled"
    ROLE_GRANTED = "role.granted"
    SIGNING_KEY_ROTATED = "signing_key.rotated"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a wrong password; a refund the provider declined
    REFUSED = "refused"  # not even tried: a login that needed a CAPTCHA it did not bring


class ActorRole(StrEnum):
    ADMIN = "admin"
    CUSTOMER = "customer"
    SYSTEM = "system"  # a background job of the shop (reaper, settlement, start-up)
    ANONYMOUS = "anonymous"  # nobody proved who they are (a failed login)


@dataclass(frozen=True)
class Actor:
    """Who did it: a user (id and role from their verified token) or a part of the system."""

    id: str
    role: ActorRole

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.user_id, ActorRole.ADMIN if principal.is_admin else ActorRole.CUSTOMER)

    @classmethod
    def system(cls, part: str) -> Actor:
        return cls(f"system:{part}", ActorRole.SYSTEM)


ANONYMOUS = Actor("anonymous", ActorRole.ANONYMOUS)


@dataclass(frozen=True)
class Origin:
    """Where the request came from: the client's address as the gateway vouched for it, and the ids
    that find its log lines and its trace."""

    client_ip: str | None = None
    request_id: str | None = None
    trace_id: str | None = None

    @classmethod
    def background(cls) -> Origin:
        """A job's origin: no client; the request and trace ids when one is current."""
        return cls(None, current_request_id(), current_trace_id())


def current_trace_id() -> str | None:
    """The W3C trace id (32 hex digits) of the current span; None when nothing is traced."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def request_origin(request: Request) -> Origin:
    """The origin of an HTTP request (a FastAPI dependency)."""
    return Origin(
        client_ip(request, request.app.state.settings) or None, current_request_id(), current_trace_id()
    )


RequestOrigin = Annotated[Origin, Depends(request_origin)]


@dataclass(frozen=True)
class Caller:
    """Who acts, and from where: what every audited use case is given."""

    actor: Actor
    origin: Origin = field(default_factory=Origin)

    @classmethod
    def of(cls, principal: Principal, origin: Origin) -> Caller:
        return cls(Actor.of(principal), origin)

    @classmethod
    def system(cls, part: str) -> Caller:
        return cls(Actor.system(part), Origin.background())


@dataclass(frozen=True)
class Target:
    """What was acted on: `product`, `order`, `payment`, `user`, `signing_key`... and its id."""

    type: str
    id: str


# Field names whose values are secrets wherever they appear (matched on the lower-cased name).
_SECRET_NAME = re.compile(r"password|secret|token|hash|private|credential|authorization|cookie|api_?key")


def redacted(value: Any) -> Any:
    """`value` with every field named like a secret removed, at any depth; ObjectIds as strings."""
    if isinstance(value, Mapping):
        return {str(k): redacted(v) for k, v in value.items() if not _SECRET_NAME.search(str(k).lower())}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    if isinstance(value, ObjectId):
        return str(value)
    return value


def record(
    action: Action,
    caller: Caller,
    target: Target,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    outcome: Outcome = Outcome.SUCCEEDED,
    details: Mapping[str, Any] | None = None,
) -> Document:
    """One audit record, ready to write."""
    return {
        "_id": ObjectId(),
        "at": utcnow(),
        "action": action.value,
        "outcome": outcome.value,
        "actor": {"id": caller.actor.id, "role": caller.actor.role.value},
        "target": {"type": target.type, "id": target.id},
        "client_ip": caller.origin.client_ip,
        "request_id": caller.origin.request_id,
        "trace_id": caller.origin.trace_id,
        "before": redacted(before) if before is not None else None,
        "after": redacted(after) if after is not None else None,
        "details": redacted(details) if details is not None else None,
    }


async def write(db: Database, entry: Document, session: AsyncClientSession | None = None) -> None:
    """Append `entry`; with `session`, inside the caller's transaction (it commits or vanishes with it)."""
    await db[AUDIT_COLLECTION].insert_one(entry, session=session)


async def audit(
    db: Database,
    action: Action,
    caller: Caller,
    target: Target,
    session: AsyncClientSession | None = None,
    **fields: Any,
) -> None:
    """Build and append one record (`fields`: before, after, outcome, details)."""
    await write(db, record(action, caller, target, **fields), session)
