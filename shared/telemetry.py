"""Distributed tracing with OpenTelemetry: one trace per request, from the gateway into every service
and its MongoDB commands, exported over OTLP/HTTP (docs/observability.md).

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then no tracer provider is installed, no
instrumentation is wired and no middleware is added, and the spans the code opens by name (`span`)
are the API's non-recording spans, which cost a context lookup. On, every process:

- opens a server span per HTTP request (the ASGI instrumentation), continuing the caller's W3C
  `traceparent` (the gateway continues a client's only when the client is a trusted proxy:
  `TraceContextGate`; otherwise it starts a new trace);
- propagates the trace to whatever it calls: the gateway's aiohttp proxy (`aiohttp_trace_configs`),
  httpx (provider APIs, readiness probes), PyMongo commands;
- sends its spans in batches to `<endpoint>/v1/traces`, sampled at OTEL_TRACES_SAMPLE_RATIO (a
  parent's decision is followed, so one trace is kept or dropped whole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    import aiohttp

# W3C trace context and baggage: what a caller uses to join (or steer) our traces.
TRACE_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
# Probes and scrapes would each make a trace of their own and drown the real ones.
UNTRACED_URLS = "/health,/metrics"

_tracer = trace.get_tracer("shop")
_enabled = False


def tracing_enabled() -> bool:
    return _enabled


def configure_tracing(service_name: str, endpoint: str | None, sample_ratio: float = 1.0) -> bool:
    """Install the process's tracer provider and the client instrumentations; False (and nothing
    done) when `endpoint` is unset. Once per process: a second call keeps the first provider."""
    global _enabled
    if not endpoint or _enabled:
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Before any MongoDB client exists: PyMongo's command listeners are registered per client.
    PymongoInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _enabled = True
    return True


def flush_traces() -> None:
    """Send the spans still buffered (an app's shutdown; the provider also flushes at exit)."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if _enabled and callable(flush):
        flush()


def trust_every_caller(scope: Scope) -> bool:
    """The services' rule: their callers are the gateway (and, in development, a developer)."""
    return True


class TraceContextGate:
    """Drops a request's `traceparent`, `tracestate` and `baggage` unless `trusted(scope)`, so the
    tracing middleware inside it starts a new trace: a client must not choose our trace ids (or
    join its requests to someone else's trace)."""

    def __init__(self, app: ASGIApp, trusted: Callable[[Scope], bool]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.trusted(scope):
            headers = scope["headers"]
            if any(name.lower() in TRACE_CONTEXT_HEADERS for name, _ in headers):
                scope["headers"] = [(n, v) for n, v in headers if n.lower() not in TRACE_CONTEXT_HEADERS]
        await self.app(scope, receive, send)


def install_tracing(app: Any, trusted: Callable[[Scope], bool] = trust_every_caller) -> None:
    """Wrap `app` (FastAPI) in the server-span middleware, and that in the trace-context gate.
    Call after the app's own `add_middleware` calls that must run inside the span (the request
    context, whose log lines then carry the trace id)."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
        default_span_details=_span_details,
    )
    app.add_middleware(TraceContextGate, trusted=trusted)


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """`POST /api/v1/orders` rather than the full path with ids in it: the route template is only
    known after routing, so the name is the method and the path's first three segments."""
    method = scope.get("method", "HTTP")
    path: str = scope.get("path", "")
    return f"{method} {'/'.join(path.split('/')[:4])}", {}


def aiohttp_trace_configs() -> list[aiohttp.TraceConfig]:
    """For the gateway's proxy session: a client span per upstream request, and the `traceparent`
    header that makes the service's spans part of the same trace. None when tracing is off."""
    if not _enabled:
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config(tracer_provider=trace.get_tracer_provider())]


@contextmanager
def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> Iterator[Span]:
    """A span of our own (a transaction, a provider call, a settlement, a background pass), child of
    the current one. An exception is recorded on it and passes on. Tracing off: a shared
    non-recording span, and nothing else done."""
    if not _enabled:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(name, attributes=attributes, record_exception=True) as current:
        yield current


def mark_error(current: Span, description: str) -> None:
    """An outcome that is a failure without an exception (a provider's refusal, say)."""
    current.set_status(Status(StatusCode.ERROR, description))


def current_trace_ids() -> tuple[str, str] | None:
    """The current trace and span ids as hex (for logs and audit records), or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
