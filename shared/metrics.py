"""Prometheus metrics, one registry per app: request count and latency by route template and status
(every process), and what every service shares: transactions, the MongoDB pool, background jobs.
The names, labels and meanings are listed in docs/observability.md."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pymongo import monitoring

# Route label for requests no route matched, so unknown paths cannot explode label cardinality.
UNMATCHED_ROUTE = "<unmatched>"

TransactionOutcome = Literal["committed", "aborted", "timed_out", "failed"]

# A service's business metrics, defined where they are counted (services/<name>/metrics.py) so a hook
# is one call with no plumbing: one process runs one service, so they are the process's. Rendered
# on /metrics after the app's own registry.
PROCESS_REGISTRY = CollectorRegistry()


class HttpMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["service", "method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.service = service

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(PROCESS_REGISTRY)


class TransactionMetrics:
    """Transactions of `ServiceContext.transaction`: outcomes, and the re-runs contention causes."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.outcomes = Counter(
            "db_transactions_total",
            "Multi-document transactions, by outcome: committed, aborted (the use case refused), "
            "timed_out (TRANSACTION_TIMEOUT_SECONDS ran out), failed (a database error).",
            ["service", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "db_transaction_retries_total",
            "Extra runs of a transaction after a transient error (write conflict, unknown commit result).",
            ["service"],
            registry=registry,
        )

    def finished(self, outcome: TransactionOutcome, runs: int) -> None:
        self.outcomes.labels(self.service, outcome).inc()
        if runs > 1:
            self.retries.labels(self.service).inc(runs - 1)


class MongoPoolMetrics(monitoring.ConnectionPoolListener):
    """PyMongo's connection-pool events as gauges: in use, open, waiting; failed checkouts by reason.
    Passed to the client at creation (`event_listeners`); summed over the servers it connects to."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.in_use = Gauge(
            "mongodb_pool_connections_in_use",
            "Connections checked out of the PyMongo pool.",
            ["service"],
            registry=registry,
        ).labels(service)
        self.open = Gauge(
            "mongodb_pool_connections_open",
            "Connections open in the PyMongo pool (in use or idle).",
            ["service"],
            registry=registry,
        ).labels(service)
        self.waiting = Gauge(
            "mongodb_pool_checkouts_waiting",
            "Operations waiting for a connection from the PyMongo pool.",
            ["service"],
            registry=registry,
        ).labels(service)
        self._failures = Counter(
            "mongodb_pool_checkout_failures_total",
            "Connection checkouts that failed, by PyMongo's reason (timeout, connectionError, poolClosed).",
            ["service", "reason"],
            registry=registry,
        )
        self.service = service

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        self.waiting.inc()

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        self.waiting.dec()
        self._failures.labels(self.service, str(event.reason)).inc()

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self.waiting.dec()
        self.in_use.inc()

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self.in_use.dec()

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self.open.inc()

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        self.open.dec()

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pass

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass


class JobMetrics:
    """Passes of the background jobs (shared/periodic.py): the reaper, the reconciler."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.runs = Counter(
            "periodic_job_runs_total",
            "Passes of a background job, by outcome (ok, failed).",
            ["service", "job", "outcome"],
            registry=registry,
        )
        self.last_success = Gauge(
            "periodic_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful pass.",
            ["service", "job"],
            registry=registry,
        )
        self.duration = Histogram(
            "periodic_job_duration_seconds",
            "Time one pass of a background job took.",
            ["service", "job"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        )

    def ran(self, job: str, *, ok: bool, seconds: float) -> None:
        self.runs.labels(self.service, job, "ok" if ok else "failed").inc()
        self.duration.labels(self.service, job).observe(seconds)
        if ok:
            self.last_success.labels(self.service, job).set_to_current_time()


class ServiceMetrics:
    """What every service with a database exports besides its HTTP metrics (`app.state.service_metrics`)."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.transactions = TransactionMetrics(registry, service)
        self.jobs = JobMetrics(registry, service)
        self.mongo_pool = MongoPoolMetrics(registry, service)


def metrics_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        http_metrics: HttpMetrics = request.app.state.metrics
        return Response(http_metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
