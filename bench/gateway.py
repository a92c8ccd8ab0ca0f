"""What the gateway costs: one product by id, straight from the catalog service and through the gateway.

On one throw-away stack with a few seeded products, one client alone (the latency a hop adds) and
then CLIENTS concurrent clients (throughput) fetch `GET /api/v1/products/{random id}` from each
target in turn: the catalog service directly; the gateway (routing, request ids, security headers,
CORS, limits, rate limiting with limits set out of reach, the CAPTCHA check, the circuit breaker,
the streaming proxy); and nginx as a reference reverse proxy when it is installed (`apt-get install
nginx`; one worker, keep-alive to the catalog). Prints requests/s, p50/p99 latency and errors for
each, then the ratios to direct.

Everything shares one machine (the load generator is this Python process): the figures compare the
targets with each other, they are not the capacity of any of them.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

from bench.stack import percentile, running_stack
from services.catalog.seed import seed_catalog
from shared.db import MongoClient

CLIENTS = 16
SECONDS = 10.0
SERIAL_SECONDS = 4.0  # one client alone: the latency a hop adds, without queueing
WARMUP_SECONDS = 1.0
PRODUCTS = 50
SEED = 7
OUT_OF_REACH = "1000000/minute"
STACK_ENV = {
    "MAX_INFLIGHT_PER_CLIENT": "10000",
    **{f"RATE_LIMIT_{name}": OUT_OF_REACH for name in ("DEFAULT", "AUTH", "CHECKOUT", "REFUNDS", "WEBHOOKS")},
}
NGINX_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream catalog {{ server {upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://catalog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, of 200 answers
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else float("nan")


async def hammer(base_url: str, ids: list[str], seconds: float, clients: int = CLIENTS) -> Run:
    """`clients` concurrent clients, each fetching random products one after another until `seconds`."""
    run = Run()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def one_client(number: int) -> None:
            rng = random.Random(number)  # noqa: S311 - reproducible picks, not secrets
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(f"/api/v1/products/{rng.choice(ids)}")
                except httpx.HTTPError as exc:
                    run.errors[type(exc).__name__] += 1
                    continue
                if response.status_code == 200:
                    run.latencies.append(time.perf_counter() - started)
                else:
                    run.errors[str(response.status_code)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(number) for number in range(clients)))
        run.seconds = time.perf_counter() - started
    return run


def describe(run: Run) -> str:
    errors = ", ".join(f"{count} x {kind}" for kind, count in sorted(run.errors.items()))
    return (
        f"{run.throughput:8.1f} req/s  p50 {run.p(0.5):6.2f} ms  p99 {run.p(0.99):6.2f} ms  "
        f"(n={len(run.latencies)})" + (f"  errors: {errors}" if errors else "")
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def nginx_in_front_of(upstream_url: str) -> Iterator[str | None]:
    """nginx proxying to `upstream_url` on a free port, or None when nginx is not installed."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as prefix:
        port = free_port()
        conf = Path(prefix) / "nginx.conf"
        upstream = upstream_url.removeprefix("http://")
        conf.write_text(NGINX_CONF.format(prefix=prefix, upstream=upstream, port=port))
        process = subprocess.Popen(  # noqa: S603 - the nginx binary found above, our own config
            [binary, "-p", prefix, "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            if not wait_listening(port, process):
                say(f"nginx did not start: {(Path(prefix) / 'error.log').read_text(errors='replace')[-500:]}")
                yield None
                return
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


async def seed(mongodb_url: str, database: str) -> list[str]:
    mongo: MongoClient = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        db = mongo[database]
        await seed_catalog(db, products=PRODUCTS, seed=SEED)
        docs = await db.products.find({"active": True}, {"_id": 1}).to_list()
        return [str(doc["_id"]) for doc in docs]
    finally:
        await mongo.close()


async def measure(targets: dict[str, str], ids: list[str]) -> tuple[dict[str, Run], dict[str, Run]]:
    """Per target: a warm-up, one client alone, then CLIENTS at once."""
    serial: dict[str, Run] = {}
    concurrent: dict[str, Run] = {}
    for name, url in targets.items():
        await hammer(url, ids, WARMUP_SECONDS)
        serial[name] = await hammer(url, ids, SERIAL_SECONDS, clients=1)
        say(f"  {name:<8} 1 client    {describe(serial[name])}")
        concurrent[name] = await hammer(url, ids, SECONDS)
        say(f"  {name:<8} {CLIENTS} clients  {describe(concurrent[name])}")
    return serial, concurrent


def ratios(label: str, runs: dict[str, Run]) -> None:
    direct = runs["direct"]
    for name, run in runs.items():
        if name == "direct":
            continue
        say(
            f"  {name}/direct, {label}: throughput {run.throughput / direct.throughput:.2f}x, "
            f"p50 {run.p(0.5) / direct.p(0.5):.2f}x (+{run.p(0.5) - direct.p(0.5):.2f} ms), "
            f"p99 {run.p(0.99) / direct.p(0.99):.2f}x"
        )


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    database = f"bench_gateway_{random.randrange(16**8):08x}"  # noqa: S311 - a name, not a secret
    with running_stack({"MONGODB_DB": database, **STACK_ENV}) as stack:
        ids = asyncio.run(seed(stack.mongodb_url, database))
        say(
            f"GET /api/v1/products/{{id}} over {len(ids)} seeded products ("
            f"{'embedded server' if stack.embedded else 'MONGODB_URL'}), keep-alive; per target after "
            f"{WARMUP_SECONDS:.0f}s warm-up: 1 client for {SERIAL_SECONDS:.0f}s, {CLIENTS} for {SECONDS:.0f}s"
        )
        catalog = stack.url_of("catalog")
        with nginx_in_front_of(catalog) as nginx:
            targets = {"direct": catalog, "gateway": stack.gateway_url}
            if nginx:
                targets["nginx"] = nginx
            serial, concurrent = asyncio.run(measure(targets, ids))
        if not nginx:
            say("  nginx    skipped: not installed (apt-get install -y nginx to include it)")
        ratios("1 client", serial)
        ratios(f"{CLIENTS} clients", concurrent)
        if not stack.embedded:
            asyncio.run(drop(stack.mongodb_url, database))


async def drop(mongodb_url: str, database: str) -> None:
    mongo: MongoClient = AsyncMongoClient(mongodb_url)
    try:
        await mongo.drop_database(database)
    finally:
        await mongo.close()


if __name__ == "__main__":
    main()
