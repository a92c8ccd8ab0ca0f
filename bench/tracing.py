"""What tracing costs per request: the same reads through two identical stacks, one with tracing
off (no OTEL_EXPORTER_OTLP_ENDPOINT: the default) and one exporting every span (sample ratio 1)
to a local do-nothing OTLP/HTTP collector, in one run.

Both stacks share one database server and one database (seeded once through the first), so they
serve the same products. Each round measures both in turn on `GET /api/v1/products/{random id}`
through the gateway (a traced request is four spans: the gateway's server span, its upstream
client span, the catalog's server span and its MongoDB find): 1 client for SERIAL_SECONDS (p50
latency), then CLIENTS clients for SECONDS (throughput, and CPU milliseconds per answered request
of the gateway and catalog processes, from /proc). The figures are medians over ROUNDS rounds,
printed with the ratio on/off. Everything shares one machine (the collector and the load generator
run in this process): the ratio is the figure to read, not the absolute numbers.

With tracing off no middleware or instrumentation is installed at all; what remains on the request
path is the code's own named spans (non-recording: `shared.telemetry.span`) and the trace-id lookup
of every log line, timed here too in this process with no tracer provider, per call.

Run with `python -m bench.tracing` (BENCH_ROUNDS, BENCH_SECONDS, BENCH_SERIAL_SECONDS to change it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import threading
import timeit
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.gateway import ADMIN_EMAIL, Target, measured, python_load, seed
from bench.stack import UNLIMITED, Run, running_stack
from devstack.stack import Stack, settings_on_free_ports
from shared.telemetry import current_trace_ids, span, tracing_enabled

CLIENTS = 8
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
SERIAL_SECONDS = float(os.environ.get("BENCH_SERIAL_SECONDS", "3"))
WARMUP_SECONDS = 1.0


@dataclass
class Collector:
    url: str = ""
    exports: int = 0
    bytes: int = 0


@contextmanager
def do_nothing_collector() -> Iterator[Collector]:
    """Accepts OTLP/HTTP exports and throws them away (counting them, to show spans were sent)."""
    collector = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            collector.exports += 1
            collector.bytes += len(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def second_stack(first: Stack, env: Mapping[str, str]) -> Iterator[Stack]:
    """Services and a gateway like `first`'s, on its database server and database."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = settings_on_free_ports(Path(data_dir), mongodb_url=first.mongodb_url)
        stack = Stack(settings, env={**first.env, **env}, log_dir=Path(data_dir) / "logs")
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def target(name: str, stack: Stack) -> Target:
    pids = {"gateway": stack.processes["gateway"].popen.pid, "catalog": stack.processes["catalog"].popen.pid}
    return Target(name, stack.gateway_url, pids)


@dataclass
class Figures:
    p50_ms: dict[str, list[float]] = field(default_factory=dict)
    throughput: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, table: dict[str, list[float]], name: str, value: float) -> None:
        table.setdefault(name, []).append(value)


def load(url: str, ids: list[str], seconds: float, clients: int) -> Run:
    return asyncio.run(python_load(url, ids, seconds, clients, {}))


def one_round(targets: list[Target], ids: list[str], figures: Figures) -> None:
    for each in targets:
        load(each.url, ids, WARMUP_SECONDS, CLIENTS)
        serial = load(each.url, ids, SERIAL_SECONDS, 1)
        runs = measured(lambda u, i, s, c, _h: load(u, i, s, c), each, ids, SECONDS, CLIENTS)
        cpu = sum(run.cpu_seconds for run in runs.values()) * 1000 / max(1, runs["gateway"].answered)
        concurrent = runs["gateway"]
        say(
            f"    tracing {each.name:<3}  1 client p50 {serial.p50_ms:6.2f} ms   {CLIENTS} clients "
            f"{concurrent.throughput:7.1f} req/s  p50 {concurrent.p50_ms:6.2f} ms   "
            f"CPU {cpu:.3f} ms/req (gateway + catalog)"
            + (f"  errors: {dict(concurrent.errors)}" if concurrent.errors else "")
        )
        figures.add(figures.p50_ms, each.name, serial.p50_ms)
        figures.add(figures.throughput, each.name, concurrent.throughput)
        figures.add(figures.cpu_ms, each.name, cpu)


def summary(figures: Figures) -> None:
    say(f"  medians over {ROUNDS} round(s), off -> on (ratio on/off):")
    for label, table, unit in (
        ("p50 latency, 1 client", figures.p50_ms, "ms"),
        (f"throughput, {CLIENTS} clients", figures.throughput, "req/s"),
        ("CPU per request", figures.cpu_ms, "ms"),
    ):
        off, on = statistics.median(table["off"]), statistics.median(table["on"])
        say(f"    {label:<24} {off:8.3f} -> {on:8.3f} {unit:<6} ratio {on / off:.2f}")


def off_path_cost() -> None:
    """What tracing-off code costs per call, in this process (no tracer provider installed)."""
    assert not tracing_enabled()

    def named_span() -> None:
        with span("bench.nothing"):
            pass

    calls = 100_000
    for label, call in (("a named span", named_span), ("a log line's trace-id lookup", current_trace_ids)):
        seconds = min(timeit.repeat(call, number=calls, repeat=3))
        say(f"  tracing off: {label} costs {seconds / calls * 1e6:.2f} us")


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    password = secrets.token_urlsafe(24)
    env = {
        "MONGODB_DB": f"bench_tracing_{secrets.token_hex(4)}",
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": password,
        **UNLIMITED,
    }
    with running_stack(env) as off, do_nothing_collector() as collector:
        ids = asyncio.run(seed(off.gateway_url, password))
        traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_TRACES_SAMPLE_RATIO": "1"}
        with second_stack(off, traced) as on:
            say(
                f"GET /api/v1/products/{{id}} through the gateway over {len(ids)} products; per stack "
                f"after {WARMUP_SECONDS:g}s warm-up: 1 client for {SERIAL_SECONDS:g}s, {CLIENTS} for "
                f"{SECONDS:g}s"
            )
            figures = Figures()
            for number in range(ROUNDS):
                say(f"  round {number + 1}:")
                one_round([target("off", off), target("on", on)], ids, figures)
            summary(figures)
            say(f"  the collector received {collector.exports} exports ({collector.bytes / 1e6:.1f} MB)")
    off_path_cost()


if __name__ == "__main__":
    main()
