"""One checkout through the gateway is one trace: the gateway's span, the order service's spans
under it (propagated over W3C `traceparent`), its transaction and its MongoDB commands. The stack
here exports to an OTLP/HTTP receiver in the test process; a client's own `traceparent` is
continued only through a trusted proxy."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack, StackError
from tests.builders import bearer, customer_headers, login, make_product, place_order
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, log_tails, stack_env, stack_settings
from tests.harness import extra_gateway
from tests.observability.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver

SERVER = 2  # OTLP's SpanKind.SPAN_KIND_SERVER
CLIENT_TRACE_ID = secrets.token_hex(16)
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-{secrets.token_hex(8)}-01"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


def tracing_env(receiver: Receiver) -> dict[str, str]:
    # Batches leave every 50 ms, so a test waits for its spans briefly; the reaper stays quiet.
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "ORDER_EXPIRY_SWEEP_SECONDS": "60",
    }


@pytest.fixture(scope="module")
def traced(stack: Stack, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Services and a gateway with tracing on, on the session stack's database server."""
    root = tmp_path_factory.mktemp("traced")
    env = {**stack_env(f"traced_{secrets.token_hex(4)}"), **tracing_env(receiver)}
    settings = stack_settings(root / "data", mongodb_url=stack.mongodb_url)
    running = Stack(settings, env=env, log_dir=root / "logs")
    try:
        running.start()
    except StackError as exc:
        pytest.fail(f"the traced stack did not start: {exc}\n{log_tails(root / 'logs')}")
    yield running
    running.stop()


def server_span(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan | None:
    return next((s for s in spans if s.service == service and s.kind == SERVER and s.name == name), None)


def trace_of(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == trace_id]


def checkout_traced(spans: list[ReceivedSpan]) -> bool:
    gateway = server_span(spans, "gateway", "POST /api/v1/orders")
    if gateway is None:
        return False
    names = {(span.service, span.name) for span in trace_of(spans, gateway.trace_id)}
    return ("order", "db.transaction") in names and ("order", "POST /api/v1/orders") in names


async def test_one_checkout_is_one_trace_across_gateway_order_service_and_database(
    traced: Stack, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=traced.gateway_url, timeout=30) as gateway:
        admin = bearer(await login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD))
        product = await make_product(gateway, admin, stock=5)
        buyer = await customer_headers(gateway)
        # An untrusted client's trace context is not continued: the gateway starts a new trace.
        with_context = {**buyer, "traceparent": CLIENT_TRACEPARENT}
        placed = await place_order(gateway, with_context, [(product["id"], 1)])
    assert placed.status_code == 201, placed.text

    spans = await receiver.wait_for(checkout_traced)
    gateway_span = server_span(spans, "gateway", "POST /api/v1/orders")
    assert gateway_span is not None
    assert gateway_span.trace_id != CLIENT_TRACE_ID
    assert gateway_span.parent_span_id == ""  # a root: nothing of the client's above it
    checkout = trace_of(spans, gateway_span.trace_id)
    assert {span.service for span in checkout} >= {"gateway", "order"}
    # The order service's server span hangs under the gateway's outgoing (aiohttp) span.
    order_span = server_span(checkout, "order", "POST /api/v1/orders")
    assert order_span is not None
    gateway_ids = {span.span_id for span in checkout if span.service == "gateway"}
    assert order_span.parent_span_id in gateway_ids
    # The transaction, with its run count, and the MongoDB commands inside the same trace.
    # (A customer's first checkout aborts once to create its checkout guard, then commits.)
    transactions = [span for span in checkout if span.name == "db.transaction"]
    assert all(span.attributes["db.transaction.runs"] >= 1 for span in transactions)
    assert [span.attributes["db.transaction.outcome"] for span in transactions][-1:] == ["committed"]
    commands = [span for span in checkout if span.attributes.get("db.system") == "mongodb"]
    assert any(span.service == "order" for span in commands)
    # The order service's log lines of this request carry its trace id.
    assert traced.log_dir is not None
    assert gateway_span.trace_id in log_trace_ids(traced.log_dir / "order.log")


def log_trace_ids(log: Path) -> set[str]:
    ids = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            ids.add(json.loads(line).get("trace_id"))
    return ids


async def test_a_trusted_proxy_continues_the_clients_trace(
    traced: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    trusted = {"TRUSTED_PROXIES": "127.0.0.1/32"}
    with extra_gateway(traced, tmp_path, trusted) as behind_proxy:
        async with httpx.AsyncClient(base_url=behind_proxy.gateway_url, timeout=30) as gateway:
            answer = await gateway.get("/api/v1/categories", headers={"traceparent": CLIENT_TRACEPARENT})
    assert answer.status_code == 200

    def continued(spans: list[ReceivedSpan]) -> bool:
        return any(span.service == "catalog" and span.trace_id == CLIENT_TRACE_ID for span in spans)

    spans = await receiver.wait_for(continued)
    gateway_span = server_span(trace_of(spans, CLIENT_TRACE_ID), "gateway", "GET /api/v1/categories")
    assert gateway_span is not None
