"""Wire models of payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.payment.settings import ProviderName
from shared.ids import OBJECT_ID_PATTERN
from shared.money import Money

PaymentStatus = Literal["pending", "succeeded", "failed", "cancelled", "partially_refunded", "refunded"]


class CreatePayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, Field(pattern=OBJECT_ID_PATTERN)]
    provider: ProviderName


class PaymentHistoryEntry(BaseModel):
    status: PaymentStatus
    at: datetime
    source: str


class Payment(BaseModel):
    id: str
    order_id: str
    provider: ProviderName
    status: PaymentStatus
    amount: Money
    refunded: Money
    client_secret: str | None = Field(default=None, description="Stripe: for the SPA's Payment Element.")
    redirect_url: str | None = Field(
        default=None, description="bKash, Nagad, sandbox: send the shopper here."
    )
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    history: list[PaymentHistoryEntry]


class SandboxOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["succeeded", "failed"]
