"""Wire models of payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.payment.settings import ProviderName
from shared.ids import OBJECT_ID_PATTERN
from shared.money import Money, MoneyOut

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
    amount: Money = Field(description="What the order asked for.")
    captured: MoneyOut | None = Field(
        default=None,
        description="What the provider captured, by its own account; null until then. It differs from "
        "`amount` only for a capture that did not match, which is refunded automatically.",
    )
    refunded: MoneyOut = Field(description="Refunded so far, ours and any made at the provider.")
    attention: list[str] | None = Field(
        default=None,
        description="Admins only (null for customers): why a person should look at this payment, for "
        "example amount_mismatch, currency_mismatch, order_not_payable, external_refund.",
    )
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
