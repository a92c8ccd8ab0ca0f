"""The payment service's own alarms, exported on /metrics next to the HTTP metrics."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

RefundKind = Literal["automatic", "manual"]
# reserve: the hold could not be written; provider: the provider refused or did not answer;
# provider_unavailable: the payment's provider is not enabled in this process.
RefundStage = Literal["reserve", "provider", "provider_unavailable"]


class PaymentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.refund_failures = Counter(
            "payment_refund_failures_total",
            "Refunds that could not be reserved or sent to the provider. An automatic refund stays due "
            "and the reconciler retries it; a manual one is reported to the admin who asked.",
            ["kind", "stage"],
            registry=self.registry,
        )
        self.auto_refunds_overdue = Gauge(
            "payment_automatic_refunds_overdue",
            "Payments captured for closed orders whose money is not all back RECONCILE_AFTER_SECONDS "
            "after it became due (as of this replica's last reconciliation pass). Alert when above 0.",
            registry=self.registry,
        )

        self.attention = Counter(
            "payment_attention_flags_total",
            "Payments flagged for a person: a capture whose amount or currency is not the payment's "
            "(refunded automatically when it can be), a report about another payment, a refund the "
            "shop did not start, a refund taken back. Alert on any increase; the admin payment view "
            "shows the reasons.",
            ["provider", "reason"],
            registry=self.registry,
        )

    def refund_failed(self, kind: RefundKind, stage: RefundStage) -> None:
        self.refund_failures.labels(kind, stage).inc()

    def flagged(self, provider: str, reason: str) -> None:
        self.attention.labels(provider, reason).inc()
