"""Wire models of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.audit import Action, ActorRole, Outcome

# Filters are plain words: who acted (a user id, `system:<part>` or `anonymous`), a target's type
# and its id (an object id, a key id, an email address for a failed login).
ACTOR_PATTERN = r"^[A-Za-z0-9:_-]{1,64}$"
TARGET_TYPE_PATTERN = r"^[a-z_]{1,32}$"
TARGET_ID_PATTERN = r"^[A-Za-z0-9:._@+-]{1,254}$"


class AuditActor(BaseModel):
    id: str = Field(description="A user id, `system:<part>` for the shop's own jobs, or `anonymous`.")
    role: ActorRole


class AuditTarget(BaseModel):
    type: str = Field(
        description="`product`, `category`, `order`, `payment`, `user`, `account`, `signing_key`."
    )
    id: str


class AuditRecord(BaseModel):
    """One audited action; never changed once written."""

    id: str
    at: datetime
    action: Action
    outcome: Outcome
    actor: AuditActor
    target: AuditTarget
    client_ip: str | None = Field(description="The client's address as the gateway saw it; null for jobs.")
    request_id: str | None = Field(description="The `X-Request-ID` of the request, in every log line of it.")
    trace_id: str | None = Field(description="The W3C trace id, when the request was traced.")
    before: dict[str, Any] | None = Field(description="What the changed fields were; null for no change.")
    after: dict[str, Any] | None = Field(description="What they became.")
    details: dict[str, Any] | None = Field(description="What else the action says (a reason, a delay).")


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next, older page; null at the end.")
