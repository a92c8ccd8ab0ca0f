"""Every call to a provider's API traced (a `provider.<operation>` span around the HTTP client's own)
and counted (`payment_provider_calls_total`, `payment_provider_call_duration_seconds`); a payment
created at its provider counts as `payments_total{outcome="started"}`.

The provider objects stay what they are (the callbacks check their classes): each operation is
wrapped on the instance itself, once, at start-up.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.payment.metrics import PaymentMetrics
from services.payment.providers.base import PaymentProvider
from shared.telemetry import span

OPERATIONS = ("create_payment", "query_payment", "cancel_payment", "refund", "query_refund")
# Provider-specific calls the callbacks make (bKash's execute, Nagad's verification, the sandbox's page).
EXTRA_OPERATIONS = ("execute", "verified_event", "complete")


def instrument(provider: PaymentProvider, metrics: PaymentMetrics) -> None:
    for operation in (*OPERATIONS, *EXTRA_OPERATIONS):
        method = getattr(provider, operation, None)
        if callable(method) and not getattr(method, "_instrumented", False):
            setattr(provider, operation, _traced(method, provider.name, operation, metrics))


def _traced(
    method: Callable[..., Awaitable[Any]], provider: str, operation: str, metrics: PaymentMetrics
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        ok = False
        try:
            with span(f"provider.{operation}", {"payment.provider": provider}):
                result = await method(*args, **kwargs)
            ok = True
            return result
        finally:
            metrics.provider_called(provider, operation, ok=ok, seconds=time.perf_counter() - started)
            if ok and operation == "create_payment":
                metrics.payment(provider, "started")

    call._instrumented = True  # type: ignore[attr-defined]
    return call
