"""HTTP route of the audit trail: admins read it; nothing in the API can change it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.auth.audit import service
from services.auth.audit.schemas import (
    ACTOR_PATTERN,
    TARGET_ID_PATTERN,
    TARGET_TYPE_PATTERN,
    AuditPage,
)
from services.auth.audit.service import AuditFilters
from shared.audit import Action, Outcome
from shared.deps import AdminUser, Db
from shared.timestamps import Instant

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get(
    "",
    response_model=AuditPage,
    summary="The audit trail (admin)",
    description=(
        "Privileged and money-moving actions, newest first: admins' product, price, stock and "
        "category changes, fulfilment steps and cancels, refunds asked and settled, logins (failed "
        "and throttled ones too), role grants and signing-key rotations. Each names who (user id and "
        "role), what, on which target, when, from which client address, with the request and trace "
        "ids and what changed. Records are append-only: no operation changes or removes them. Pages "
        "continue with `next_cursor`; every filter combines with the others."
    ),
)
async def list_audit(
    _: AdminUser,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
    actor: Annotated[
        str | None, Query(pattern=ACTOR_PATTERN, description="The acting user's id, or `system:<part>`.")
    ] = None,
    action: Action | None = None,
    outcome: Outcome | None = None,
    target_type: Annotated[
        str | None, Query(pattern=TARGET_TYPE_PATTERN, description="`product`, `order`, `payment`...")
    ] = None,
    target_id: Annotated[str | None, Query(pattern=TARGET_ID_PATTERN, description="The target's id.")] = None,
    since: Annotated[Instant | None, Query(description="Records at or after this instant.")] = None,
    until: Annotated[Instant | None, Query(description="Records before this instant.")] = None,
) -> AuditPage:
    filters = AuditFilters(limit, cursor, actor, action, outcome, target_type, target_id, since, until)
    return await service.list_audit(db, filters)
