"""A throw-away stack for benchmarks: fresh data directory, free ports, MONGODB_URL honoured."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devstack.stack import Stack, settings_on_free_ports

# Benchmarks measure the services, not the gateway's rate limits and per-client caps: one load
# generator is one client, so every limit is set out of reach (a benchmark may override them).
UNLIMITED = {
    **{
        f"RATE_LIMIT_{name}": "1000000/minute"
        for name in ("DEFAULT", "AUTH", "CHECKOUT", "REFUNDS", "WEBHOOKS")
    },
    "MAX_INFLIGHT_PER_CLIENT": "10000",
    "LOGIN_DELAY_MAX_SECONDS": "0",
    "LOGIN_IP_CAPTCHA_AFTER_FAILURES": "0",
}


@contextmanager
def running_stack(env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = settings_on_free_ports(Path(data_dir), mongodb_url=os.environ.get("MONGODB_URL") or None)
        stack = Stack(
            settings,
            env={"ENV": "test", "LOG_LEVEL": "WARNING", **UNLIMITED, **(env or {})},
            log_dir=Path(data_dir) / "logs",
        )
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(samples_seconds: list[float]) -> str:
    ms = [s * 1000 for s in samples_seconds]
    return f"p50 {percentile(ms, 0.5):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  (n={len(ms)})"
