"""The gateway's own metrics beside the HTTP ones, and the listener that serves them to Prometheus.

`/metrics` is never served on the public port (the path is refused there like any unknown one):
with METRICS_PORT set, the registry is served on its own listener (METRICS_HOST:METRICS_PORT, a
port the deployment keeps inside its network) for Prometheus to scrape (docs/observability.md).
Gauges of state the gateway already keeps (breakers, in-flight upstream requests) are read at
scrape time, so the request path does no extra work for them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Scope

from gateway.breaker import BreakerState, CircuitBreaker
from gateway.settings import GatewaySettings
from shared.logging import log_event

logger = logging.getLogger("gateway.metrics")

HealthSource = Literal["cached", "fresh"]


class GatewayState(Collector):
    """Breaker states and in-flight upstream requests, read when Prometheus scrapes."""

    def __init__(self, breakers: Mapping[str, CircuitBreaker], in_flight: Callable[[], int]) -> None:
        self.breakers = breakers
        self.in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "gateway_circuit_breaker_state",
            "1 for the current state of each upstream's circuit breaker (closed, open, half_open).",
            labels=["upstream", "state"],
        )
        for upstream, breaker in self.breakers.items():
            current = breaker.state
            for state in BreakerState:
                states.add_metric([upstream, state.value], 1.0 if state is current else 0.0)
        yield states
        yield GaugeMetricFamily(
            "gateway_upstream_in_flight",
            "Proxied requests waiting for or holding an upstream connection.",
            value=float(self.in_flight()),
        )


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.captcha = Counter(
            "captcha_checks_total",
            "CAPTCHA checks at the gateway by verdict: valid, or the demands and failures (missing, "
            "invalid, expired, reused).",
            ["verdict"],
            registry=registry,
        )
        self.health = Counter(
            "gateway_health_checks_total",
            "Answers of the aggregate /health, from the cache or fresh (asking every service).",
            ["source"],
            registry=registry,
        )

    def watch(self, breakers: Mapping[str, CircuitBreaker], in_flight: Callable[[], int]) -> None:
        self.registry.register(GatewayState(breakers, in_flight))

    def captcha_checked(self, verdict: str) -> None:
        self.captcha.labels(verdict).inc()

    def health_answered(self, source: HealthSource) -> None:
        self.health.labels(source).inc()


def count_captcha(scope: Scope, verdict: str) -> None:
    """A CAPTCHA check's verdict, counted on the app of this request (gateway/captcha/middleware.py)."""
    metrics: GatewayMetrics | None = getattr(scope["app"].state, "gateway_metrics", None)
    if metrics is not None:
        metrics.captcha_checked(verdict)


@asynccontextmanager
async def metrics_listener_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Serve the registry on METRICS_HOST:METRICS_PORT (a thread of prometheus_client's own), when set."""
    settings: GatewaySettings = app.state.settings
    if settings.metrics_port is None:
        yield
        return
    server, thread = start_http_server(
        settings.metrics_port, settings.metrics_host, registry=app.state.metrics.registry
    )
    log_event(logger, "gateway.metrics_listening", host=settings.metrics_host, port=settings.metrics_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
