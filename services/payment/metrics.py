"""The payment service's own metrics and alarms, exported on /metrics next to the HTTP metrics
(names, labels and meanings: docs/observability.md)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RefundKind = Literal["automatic", "manual"]
# reserve: the hold could not be written; provider: the provider refused or did not answer;
# provider_unavailable: the payment's provider is not enabled in this process.
RefundStage = Literal["reserve", "provider", "provider_unavailable"]
# started: created at the provider; the others as settled from the provider's word.
PaymentOutcome = Literal["started", "succeeded", "failed", "cancelled"]
# webhook: a callback or webhook the provider sent; query: its answer to our own question.
SettlementSource = Literal["webhook", "query"]
RefundOutcome = Literal["succeeded", "pending", "failed"]
BacklogKind = Literal["payment", "refund"]
# Seconds: a provider's answer comes in well under a second, or after its own timeouts.
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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

        self._business(self.registry)

    def _business(self, registry: CollectorRegistry) -> None:
        self.payments = Counter(
            "payments_total",
            "Payments by provider and outcome: started, then succeeded, failed or cancelled as settled.",
            ["provider", "outcome"],
            registry=registry,
        )
        self.settlements = Counter(
            "payment_settlements_total",
            "Verified provider events settled, by source (webhook, query) and result (applied, "
            "duplicate, ignored, rejected, flagged).",
            ["provider", "source", "result"],
            registry=registry,
        )
        self.settlement_seconds = Histogram(
            "payment_settlement_seconds",
            "From holding the provider's verified word of a capture to the commit of the paid order.",
            ["provider", "source"],
            buckets=_CALL_BUCKETS,
            registry=registry,
        )
        self.provider_calls = Counter(
            "payment_provider_calls_total",
            "Calls to a provider's API by operation and outcome (ok, error).",
            ["provider", "operation", "outcome"],
            registry=registry,
        )
        self.provider_call_seconds = Histogram(
            "payment_provider_call_duration_seconds",
            "Time of one call to a provider's API.",
            ["provider", "operation"],
            buckets=_CALL_BUCKETS,
            registry=registry,
        )
        self.webhook_failures = Counter(
            "webhook_verification_failures_total",
            "Webhooks and callbacks refused because their signature (or the provider's confirmation) "
            "did not verify.",
            ["provider"],
            registry=registry,
        )
        self.refunds = Counter(
            "refunds_total",
            "Refunds sent to a provider, by kind (automatic, manual) and outcome (succeeded, pending, "
            "failed).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.restocked = Counter(
            "refund_restocked_units_total", "Units put back in stock by refunds.", registry=registry
        )
        self.backlog = Gauge(
            "payment_reconciliation_backlog",
            "Payments and refunds still pending RECONCILE_AFTER_SECONDS after they started (as of this "
            "replica's last reconciliation pass).",
            ["kind"],
            registry=registry,
        )

    def payment(self, provider: str, outcome: PaymentOutcome) -> None:
        self.payments.labels(provider, outcome).inc()

    def settled(self, provider: str, source: SettlementSource, result: str) -> None:
        self.settlements.labels(provider, source, result).inc()

    def provider_called(self, provider: str, operation: str, *, ok: bool, seconds: float) -> None:
        self.provider_calls.labels(provider, operation, "ok" if ok else "error").inc()
        self.provider_call_seconds.labels(provider, operation).observe(seconds)

    def webhook_refused(self, provider: str) -> None:
        self.webhook_failures.labels(provider).inc()

    def refund(self, kind: RefundKind, outcome: RefundOutcome) -> None:
        self.refunds.labels(kind, outcome).inc()

    def refund_failed(self, kind: RefundKind, stage: RefundStage) -> None:
        self.refund_failures.labels(kind, stage).inc()

    def flagged(self, provider: str, reason: str) -> None:
        self.attention.labels(provider, reason).inc()
