"""Rate limits counted in Redis: gateway processes sharing one Redis enforce one limit, and a gateway
whose Redis goes away keeps serving with limits in its own memory, says so, and recovers.

The shared Redis is the local one (skipped when it is not running), under a key prefix of this test
run's own. The failing one is a `redis-server` this module starts and kills (skipped when it is not
installed). Hourly windows, as in test_rate_limits.py, so no test straddles a window boundary.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from devstack.stack import Stack, free_port
from tests.integration.test_rate_limits import assert_rate_limited, new_client, rate, start_gateway

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


def prefixed_keys(url: str, prefix: str) -> list[bytes]:
    with Redis.from_url(url, socket_timeout=2) as client:
        return list(client.scan_iter(match=f"{prefix}:*"))


def delete_keys(url: str, prefix: str) -> None:
    with Redis.from_url(url, socket_timeout=2) as client:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)


# --- two gateways, one Redis, one limit -----------------------------------------------------------


@dataclass
class Replicas:
    stacks: list[Stack]
    prefix: str


@pytest.fixture(scope="module")
def replicas(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    if not redis_answers(SHARED_REDIS_URL):
        pytest.skip(f"no Redis at {SHARED_REDIS_URL}")
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:12]}"
    settings = {
        "REDIS_URL": SHARED_REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": prefix,
        "RATE_LIMIT_DEFAULT": "6/hour",
        "RATE_LIMIT_AUTH": "3/minute",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    started: list[Stack] = []
    try:
        for name in ("replica-a", "replica-b"):
            started.append(start_gateway(stack, tmp_path_factory.mktemp(name), settings))
        yield Replicas(started, prefix)
    finally:
        for replica in started:
            replica.stop()
        delete_keys(SHARED_REDIS_URL, prefix)


async def test_two_gateways_sharing_redis_enforce_one_limit(replicas: Replicas) -> None:
    client = new_client()
    async with httpx.AsyncClient(timeout=30) as http:
        urls = [replica.gateway_url for replica in replicas.stacks]
        for url in urls:
            health = (await http.get(f"{url}/health")).json()
            assert health["rate_limits"] == "redis"
        answers = [await http.get(f"{urls[n % 2]}/api/v1/categories", headers=client) for n in range(6)]
        assert [answer.status_code for answer in answers] == [200] * 6
        # One count across both processes.
        assert [rate(answer)[1] for answer in answers] == [5, 4, 3, 2, 1, 0]
        for url in urls:
            assert_rate_limited(await http.get(f"{url}/api/v1/categories", headers=client))

        # The exact class too: three logins through either gateway, then 429 from both.
        other = new_client()
        login = {
            "email": "nobody@example.com",
            "password": "not the password at all",  # pragma: allowlist secret
        }
        logins = [
            await http.post(f"{urls[n % 2]}/api/v1/auth/login", json=login, headers=other) for n in range(3)
        ]
        assert [answer.status_code for answer in logins] == [401, 401, 401]
        for url in urls:
            assert_rate_limited(await http.post(f"{url}/api/v1/auth/login", json=login, headers=other))
    assert prefixed_keys(SHARED_REDIS_URL, replicas.prefix)  # the counters live in Redis, under the prefix


# --- Redis going away and coming back -------------------------------------------------------------


@dataclass
class OwnRedis:
    """A redis-server of this module's own, on a free port, without persistence."""

    executable: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if redis_answers(self.url):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def own_redis() -> Iterator[OwnRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(executable, free_port())
    try:
        redis.start()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture(scope="module")
def fragile_gateway(
    stack: Stack, own_redis: OwnRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = {
        "REDIS_URL": own_redis.url,
        "RATE_LIMIT_KEY_PREFIX": "fragile",
        "RATE_LIMIT_DEFAULT": "5/hour",
        "RATE_LIMIT_REDIS_RETRY_SECONDS": "0.5",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    gateway = start_gateway(stack, tmp_path_factory.mktemp("fragile-gateway"), settings)
    try:
        yield gateway
    finally:
        gateway.stop()


def logged_events(gateway: Stack, event: str) -> list[dict[str, object]]:
    assert gateway.log_dir is not None
    lines = (gateway.log_dir / "gateway.log").read_text().splitlines()
    return [entry for line in lines if line.startswith("{") and (entry := json.loads(line))["event"] == event]


async def wait_for_state(client: httpx.AsyncClient, state: str, seconds: float = 10) -> dict[str, object]:
    for _ in range(int(seconds / 0.1)):
        response = await client.get("/health")
        body: dict[str, object] = response.json()
        if body.get("rate_limits") == state:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/health never said rate_limits: {state} (last: {body})")


@pytest.fixture
async def fragile(fragile_gateway: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fragile_gateway.gateway_url, timeout=30) as client:
        yield client


async def test_redis_going_away_degrades_to_memory_and_recovers(
    fragile: httpx.AsyncClient, fragile_gateway: Stack, own_redis: OwnRedis
) -> None:
    await wait_for_state(fragile, "redis")
    assert (await fragile.get("/api/v1/categories", headers=new_client())).status_code == 200
    assert prefixed_keys(own_redis.url, "fragile")

    own_redis.kill()
    client = new_client()
    answers = [await fragile.get("/api/v1/categories", headers=client) for _ in range(5)]
    # Still served, and still limited: in the gateway's own memory.
    assert [answer.status_code for answer in answers] == [200] * 5
    assert [rate(answer)[1] for answer in answers] == [4, 3, 2, 1, 0]
    assert_rate_limited(await fragile.get("/api/v1/categories", headers=client))

    health = await fragile.get("/health")
    assert health.status_code == 200  # degraded, not down
    assert health.json()["rate_limits"] == "degraded"
    assert (await fragile.get("/health/ready")).status_code == 200  # never out of rotation for Redis
    degraded = logged_events(fragile_gateway, "ratelimit.degraded")
    assert len(degraded) == 1, degraded  # once per transition, not once per request
    assert degraded[0]["level"] == "warning"

    own_redis.start()
    await wait_for_state(fragile, "redis")
    assert len(logged_events(fragile_gateway, "ratelimit.recovered")) == 1
    # Counted in Redis again (the restarted server started empty).
    response = await fragile.get("/api/v1/categories", headers=new_client())
    assert rate(response)[1] == 4
    assert prefixed_keys(own_redis.url, "fragile")
