"""`python -m bench.loadtest` (or `make loadtest`): the whole shop under a realistic mix, then the audit.

On a throw-away stack (embedded server, or MONGODB_URL; rate limits counted in Redis when one
answers at LOADTEST_REDIS_URL), with the demo catalog and registered shoppers (fixture.py), Locust
runs bench/loadtest/locustfile.py headless: a ramp until the knee, then a hold at 80% of it.
Meanwhile the resident memory of every process is sampled. At the end the invariant audit
(`shop audit-data`'s checker) reads the database, and report.py writes the Markdown report with
its plots to LOADTEST_OUT (default docs/performance). Exits non-zero when an invariant fails or an
answer other than 2xx, 409 and 429 was seen.

Durations: LOADTEST_STEP_USERS, LOADTEST_STEP_SECONDS, LOADTEST_MAX_USERS, LOADTEST_HOLD_SECONDS,
LOADTEST_P95_MS (the locustfile reads them); LOADTEST_PRODUCTS, LOADTEST_ACCOUNTS for the data.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bson import ObjectId
from pymongo import AsyncMongoClient

from bench.gateway import forget_counters, redis_answers
from bench.loadtest.fixture import prepare
from bench.loadtest.memory import MemorySampler
from bench.loadtest.report import Run, write_report
from bench.stack import running_stack
from shared.db import MongoClient
from shop.audit.load import AuditReport, audit_database

HERE = Path(__file__).parent
OUT = Path(os.environ.get("LOADTEST_OUT", "docs/performance"))
REDIS_URL = os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/14")
PRODUCTS = int(os.environ.get("LOADTEST_PRODUCTS", "2000"))
MAX_USERS = int(os.environ.get("LOADTEST_MAX_USERS", "200"))
ACCOUNTS = int(os.environ.get("LOADTEST_ACCOUNTS", str(min(MAX_USERS, 120))))
ADMIN_EMAIL = "loadtest-admin@example.com"
OUT_OF_REACH = "1000000/minute"


def stack_env(database: str, admin_password: str, redis_url: str | None, key_prefix: str) -> dict[str, str]:
    """The stack as shipped, but with the per-client limits out of reach: every shopper of the load
    comes from one address, which a real shop would see as one client."""
    limits = ("DEFAULT", "AUTH", "CHECKOUT", "REFUNDS", "WEBHOOKS", "REFRESH", "REFRESH_CLIENT")
    env = {
        "MONGODB_DB": database,
        "LOG_LEVEL": "WARNING",
        "PAYMENT_PROVIDERS": "sandbox",
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        **{f"RATE_LIMIT_{name}": OUT_OF_REACH for name in limits},
        "MAX_INFLIGHT_PER_CLIENT": "10000",
        "ORDER_MAX_OPEN_PER_CUSTOMER": "20",
    }
    if redis_url:
        env |= {"REDIS_URL": redis_url, "RATE_LIMIT_KEY_PREFIX": key_prefix}
    return env


def run_locust(gateway_url: str, work: Path, fixture: Path) -> int:
    env = {
        **os.environ,
        "LOADTEST_FIXTURE": str(fixture),
        "LOADTEST_PHASES": str(work / "phases.json"),
        "PYTHONPATH": str(Path.cwd()),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "--host", gateway_url, "--csv", str(work / "locust"), "--csv-full-history", "--only-summary",
        "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    return subprocess.run(command, env=env, check=False).returncode  # noqa: S603 - our own command


async def audit(mongodb_url: str, database: str, starting: dict[ObjectId, int]) -> AuditReport:
    client: MongoClient = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        return await audit_database(client, database, mongodb_url, starting_stock=starting)
    finally:
        await client.close()


def main() -> int:
    database = f"loadtest_{secrets.token_hex(4)}"
    key_prefix = f"loadtest-{secrets.token_hex(4)}"
    redis_url = REDIS_URL if redis_answers(REDIS_URL) else None
    admin_password = secrets.token_urlsafe(24)
    started = time.time()
    with (
        tempfile.TemporaryDirectory() as work_dir,
        running_stack(stack_env(database, admin_password, redis_url, key_prefix)) as stack,
    ):
        work = Path(work_dir)
        say(
            f"stack up ({'embedded server' if stack.embedded else 'MONGODB_URL'}; "
            f"Redis: {redis_url or 'none'})"
        )

        async def fixture_data() -> tuple[dict[str, object], dict[ObjectId, int]]:
            client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
            try:
                made = await prepare(
                    stack.gateway_url, client[database], PRODUCTS, ACCOUNTS, (ADMIN_EMAIL, admin_password)
                )
            finally:
                await client.close()
            return made.data, made.starting_stock

        data, starting = asyncio.run(fixture_data())
        fixture = work / "fixture.json"
        fixture.write_text(json.dumps(data))
        say(f"{PRODUCTS:,} products, {ACCOUNTS} shoppers logged in; idle memory, then the load")
        sampler = MemorySampler({name: process.popen.pid for name, process in stack.processes.items()})
        for _ in range(3):
            sampler.sample()
            time.sleep(1)
        idle = dict(sampler.samples[-1][1])
        sampler.start()
        load_started = time.time()
        locust_exit = run_locust(stack.gateway_url, work, fixture)
        sampler.stop()
        report = asyncio.run(audit(stack.mongodb_url, database, starting))
        run = Run.read(work, idle, sampler, load_started, report, stack.embedded, redis_url is not None)
        path = write_report(run, OUT)
        say(f"report: {path} (locust exited {locust_exit}; {time.time() - started:.0f}s in all)")
    if redis_url:
        forget_counters(redis_url, key_prefix)
    for verdict in report.verdicts:
        say(f"  {verdict.status:<4} {verdict.name}")
    say(f"unexpected answers: {run.failures}; invariants: {'pass' if report.ok else 'FAIL'}")
    return 0 if report.ok and run.failures == 0 else 1


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
