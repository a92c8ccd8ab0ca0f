"""What the gateway costs: one product by id, straight from the catalog service, through the gateway,
and through nginx in front of the same service.

On one throw-away stack with a few seeded products and every gateway protection on (rate limits
counted in Redis with limits set out of reach, the CAPTCHA check, CORS, body, URL and header
limits, the per-client in-flight cap at its default, security headers, the circuit breaker, the
streaming proxy), one client alone (the latency a hop adds) and then CLIENTS concurrent clients
(throughput) fetch `GET /api/v1/products/{random id}` from each target in turn: the catalog service
directly (with the internal token, as the gateway sends it), the gateway, and nginx (one worker,
keep-alive to the catalog, adding the internal token) when it is installed.

Load comes from `wrk` when it is installed (C, so it takes little of the CPU the targets share) and
from this Python process (httpx); both are printed. Each round measures every target once; the
figures at the end are medians over ROUNDS rounds: throughput at CLIENTS clients relative to
direct, p50 latency added at one client, and CPU milliseconds per answered request of the gateway
and of nginx (utime + stime of their processes over the CLIENTS run, from /proc).

Redis must answer at BENCH_REDIS_URL (default redis://127.0.0.1:6379/15); otherwise the benchmark
says so and stops. Everything shares one machine: the figures compare the targets with each other,
they are not the capacity of any of them.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
import redis
from pymongo import AsyncMongoClient

from bench.stack import Run, nginx_in_front_of, parse_wrk, percentile, running_stack, tree_cpu_seconds
from devstack.stack import Stack
from shared.db import MongoClient
from shared.settings import INTERNAL_TOKEN_HEADER

CLIENTS = 16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
SERIAL_SECONDS = float(os.environ.get("BENCH_SERIAL_SECONDS", "3"))
WARMUP_SECONDS = 1.0
PRODUCTS = 50
SEED = 7
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
ADMIN_EMAIL = "bench-admin@example.com"
WORDS = [
    "cotton",
    "linen",
    "silk",
    "wool",
    "denim",
    "leather",
    "bamboo",
    "ceramic",
    "copper",
    "brass",
    "steel",
    "walnut",
    "teak",
    "oak",
    "jute",
    "shirt",
    "saree",
    "panjabi",
    "kurta",
    "scarf",
    "shawl",
    "bag",
    "wallet",
    "belt",
    "sandal",
    "lamp",
    "bowl",
    "mug",
    "plate",
    "vase",
    "rug",
    "blue",
    "green",
    "red",
    "ivory",
    "indigo",
    "saffron",
    "crimson",
    "charcoal",
    "olive",
    "amber",
    "handwoven",
    "embroidered",
    "printed",
]
OUT_OF_REACH = "1000000/minute"  # counted (in Redis) on every request, never reached


def protections(redis_url: str, key_prefix: str) -> dict[str, str]:
    """The gateway with every protection on; only the rate limits are out of reach (one load
    generator is one client), and they are still counted in Redis on every request."""
    return {
        "REDIS_URL": redis_url,
        "RATE_LIMIT_KEY_PREFIX": key_prefix,
        **{
            f"RATE_LIMIT_{name}": OUT_OF_REACH
            for name in ("DEFAULT", "AUTH", "CHECKOUT", "REFUNDS", "WEBHOOKS")
        },
        "MAX_INFLIGHT_PER_CLIENT": "32",  # the default: CLIENTS stay under it
        "CAPTCHA_PROVIDER": "altcha",
        "CAPTCHA_ROUTES": "POST /api/v1/auth/register",
        "CORS_ORIGINS": "https://shop.example",
    }


WRK_SCRIPT = """\
local ids = {{{ids}}}
local headers = {{{headers}}}
math.randomseed({seed})
request = function()
  return wrk.format("GET", "/api/v1/products/" .. ids[math.random(#ids)], headers)
end
"""


# --- load generators ------------------------------------------------------------------------------


async def python_load(
    base_url: str, ids: list[str], seconds: float, clients: int, headers: Mapping[str, str]
) -> Run:
    """`clients` concurrent httpx clients fetching random products one after another until `seconds`."""
    latencies: list[float] = []
    run = Run()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits, headers=headers) as client:
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
                    latencies.append(time.perf_counter() - started)
                else:
                    run.errors[str(response.status_code)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(number) for number in range(clients)))
        run.seconds = time.perf_counter() - started
    run.answered = len(latencies)
    if latencies:
        run.p50_ms, run.p99_ms = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return run


def wrk_load(
    base_url: str, ids: list[str], seconds: float, clients: int, headers: Mapping[str, str], wrk: str
) -> Run:
    """The same load from `wrk` (one thread, `clients` keep-alive connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(
            WRK_SCRIPT.format(
                ids=", ".join(f'"{i}"' for i in ids),
                headers=", ".join(f'["{name}"] = "{value}"' for name, value in headers.items()),
                seed=SEED,
            )
        )
        script.flush()
        command = [
            wrk,
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            script.name,
            base_url,
        ]
        output = subprocess.run(  # noqa: S603 - the wrk binary found on PATH, our own arguments
            command, capture_output=True, text=True, check=True, timeout=seconds + 30
        ).stdout
    return parse_wrk(output)


# --- the targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    pids: dict[str, int]  # whose CPU is counted: the hop itself, and the catalog behind it
    headers: Mapping[str, str] = field(default_factory=dict)


# --- measuring ------------------------------------------------------------------------------------

Load = Callable[[str, list[str], float, int, Mapping[str, str]], Run]


def measured(load: Load, target: Target, ids: list[str], seconds: float, clients: int) -> dict[str, Run]:
    """One run, with the CPU each of the target's processes spent during it."""
    before = {name: tree_cpu_seconds(pid) for name, pid in target.pids.items()}
    run = load(target.url, ids, seconds, clients, target.headers)
    cpu = {name: tree_cpu_seconds(pid) - before[name] for name, pid in target.pids.items()}
    runs = {}
    for name, seconds_spent in cpu.items():
        copy = Run(run.answered, run.seconds, run.p50_ms, run.p99_ms, run.errors, seconds_spent)
        runs[name] = copy
    return runs


def describe(run: Run) -> str:
    errors = ", ".join(f"{count} x {kind}" for kind, count in sorted(run.errors.items()) if count)
    return (
        f"{run.throughput:8.1f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  "
        f"(n={run.answered})" + (f"  errors: {errors}" if errors else "")
    )


@dataclass
class Figures:
    """Per round: throughput ratio at CLIENTS, added p50 at one client, CPU ms per request."""

    throughput_ratio: dict[str, list[float]] = field(default_factory=dict)
    added_p50_ms: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, table: dict[str, list[float]], value: float) -> None:
        table.setdefault(key, []).append(value)


def one_round(load: Load, targets: list[Target], ids: list[str], figures: Figures) -> None:
    serial: dict[str, Run] = {}
    concurrent: dict[str, Run] = {}
    for target in targets:
        load(target.url, ids, WARMUP_SECONDS, CLIENTS, target.headers)
        serial[target.name] = load(target.url, ids, SERIAL_SECONDS, 1, target.headers)
        say(f"    {target.name:<8} 1 client    {describe(serial[target.name])}")
        runs = measured(load, target, ids, SECONDS, CLIENTS)
        concurrent[target.name] = runs[target.name]
        cpu = "  ".join(f"{name} {run.cpu_ms_per_request:.2f}" for name, run in runs.items())
        say(f"    {target.name:<8} {CLIENTS} clients  {describe(runs[target.name])}  CPU ms/req: {cpu}")
        figures.add(target.name, figures.cpu_ms, runs[target.name].cpu_ms_per_request)
    direct = "direct"
    for name in concurrent:
        if name == direct:
            continue
        figures.add(
            name, figures.throughput_ratio, concurrent[name].throughput / concurrent[direct].throughput
        )
        figures.add(name, figures.added_p50_ms, serial[name].p50_ms - serial[direct].p50_ms)


def summary(label: str, figures: Figures) -> None:
    say(f"  {label}, medians over {ROUNDS} round(s):")
    for name, ratios in figures.throughput_ratio.items():
        say(
            f"    {name:<8} throughput {statistics.median(ratios):.2f}x direct at {CLIENTS} clients "
            f"({', '.join(f'{r:.2f}' for r in ratios)}); p50 added at 1 client "
            f"{statistics.median(figures.added_p50_ms[name]):+.2f} ms "
            f"({', '.join(f'{a:+.2f}' for a in figures.added_p50_ms[name])})"
        )
    for name, values in figures.cpu_ms.items():
        say(f"    {name:<8} CPU {statistics.median(values):.3f} ms per request of its own processes")


def say(line: str) -> None:
    print(line, flush=True)


async def seed(gateway_url: str, password: str) -> list[str]:
    """PRODUCTS products created through the API by the bootstrap admin; their ids."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible data, not secrets
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        login = await client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": password})
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        ids = []
        for number in range(PRODUCTS):
            words = rng.sample(WORDS, 3)
            product = {
                "sku": f"BENCH-{number:04d}",
                "name": " ".join(word.capitalize() for word in words),
                "description": " ".join(rng.choice(WORDS) for _ in range(40)),
                "price": {"amount": rng.randrange(100, 500_000), "currency": "BDT"},
                "stock": rng.randrange(0, 1000),
            }
            created = await client.post("/api/v1/products", json=product, headers=admin)
            created.raise_for_status()
            ids.append(str(created.json()["id"]))
        return ids


def redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def forget_counters(url: str, prefix: str) -> None:
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)


def loads() -> dict[str, Load]:
    generators: dict[str, Load] = {}
    wrk = shutil.which("wrk")
    if wrk:
        generators["wrk"] = lambda url, ids, seconds, clients, headers: wrk_load(
            url, ids, seconds, clients, headers, wrk
        )
    else:
        say("  wrk      not installed (apt-get install -y wrk): Python load only")
    generators["python"] = lambda url, ids, seconds, clients, headers: asyncio.run(
        python_load(url, ids, seconds, clients, headers)
    )
    return generators


def targets_of(stack: Stack, nginx: tuple[str, int] | None) -> list[Target]:
    catalog = stack.processes["catalog"].popen.pid
    token = {INTERNAL_TOKEN_HEADER: stack.child_env["INTERNAL_TOKEN"]}
    targets = [
        Target("direct", stack.url_of("catalog"), {"direct": catalog}, token),
        Target(
            "gateway",
            stack.gateway_url,
            {"gateway": stack.processes["gateway"].popen.pid, "catalog": catalog},
        ),
    ]
    if nginx:
        targets.append(Target("nginx", nginx[0], {"nginx": nginx[1], "catalog": catalog}))
    return targets


def main() -> None:
    if not redis_answers(REDIS_URL):
        say(
            f"  skipped: no Redis answers at {REDIS_URL} (set BENCH_REDIS_URL); "
            "the gateway's rate limits are measured with Redis"
        )
        return
    database = f"bench_gateway_{secrets.token_hex(4)}"
    key_prefix = f"bench-gateway-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    env = {
        "MONGODB_DB": database,
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": password,
        **protections(REDIS_URL, key_prefix),
    }
    try:
        with running_stack(env) as stack:
            ids = asyncio.run(seed(stack.gateway_url, password))
            say(
                f"GET /api/v1/products/{{id}} over {len(ids)} seeded products ("
                f"{'embedded server' if stack.embedded else 'MONGODB_URL'}), keep-alive, every gateway "
                f"protection on (Redis rate limits); per target after {WARMUP_SECONDS:.0f}s warm-up: "
                f"1 client for {SERIAL_SECONDS:g}s, {CLIENTS} for {SECONDS:g}s"
            )
            with nginx_in_front_of(stack.url_of("catalog"), stack.child_env["INTERNAL_TOKEN"]) as nginx:
                if not nginx:
                    say("  nginx    skipped: not installed (apt-get install -y nginx-light to include it)")
                targets = targets_of(stack, nginx)
                for label, load in loads().items():
                    figures = Figures()
                    for number in range(ROUNDS):
                        say(f"  {label} load, round {number + 1}:")
                        one_round(load, targets, ids, figures)
                    summary(f"{label} load", figures)
            if not stack.embedded:
                asyncio.run(drop(stack.mongodb_url, database))
    finally:
        forget_counters(REDIS_URL, key_prefix)


async def drop(mongodb_url: str, database: str) -> None:
    mongo: MongoClient = AsyncMongoClient(mongodb_url)
    try:
        await mongo.drop_database(database)
    finally:
        await mongo.close()


if __name__ == "__main__":
    main()
