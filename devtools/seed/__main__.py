"""A realistic demo catalog for the SPA team and for benchmarks: `python -m devtools.seed` (`make seed`).

Deterministic: the same `--seed` always gives the same categories and products, and product *i* is
the same whatever `--products` says, so a larger run only adds to a smaller one. Idempotent: a
category or product whose slug or SKU already exists is left alone; the unique indexes decide, so
two seeders running at once cannot duplicate anything. Everything is written through the catalog's
own use cases, so the documents have exactly the shape the service writes (`name_key`,
`search_terms`, `version`, timestamps).

For development and benchmarks only: it refuses to run with ENV=production.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from devtools.seed.catalog import DEFAULT_SEED, SeedSummary, seed_catalog
from services.catalog.settings import CatalogSettings
from shared.db import MongoClient
from shared.logging import configure_logging
from shared.mongodb_url import where
from shared.settings import SettingsError, load_settings

DEFAULT_PRODUCTS = 300
CONNECT_TIMEOUT_MS = 5000


class SeedSettings(CatalogSettings):
    """The catalog's settings, of which the seeder needs only the database; it needs no secret."""

    service_name: ClassVar[str] = "catalog-seed"
    # Absent secrets stay absent instead of being generated into DATA_DIR/dev-secrets.
    optional_secrets: ClassVar[frozenset[str]] = frozenset(CatalogSettings.secret_field_names())


@dataclass(frozen=True)
class Target:
    mongodb_url: str
    database: str
    # Of the local stack, when seeding the one `make run` starts: what `--wait` waits for, and how long.
    gateway_url: str | None = None
    startup_timeout_seconds: float = 0.0


def resolve_target(settings: SeedSettings) -> Target:
    """MONGODB_URL when set, otherwise the embedded server of `make run` on the port it really uses."""
    try:
        from devstack.stack import Stack, StackSettings  # development tooling, absent from the image
    except ImportError:
        return Target(settings.mongodb_url, settings.mongodb_db)
    stack = Stack(StackSettings())
    url = settings.mongodb_url if "mongodb_url" in settings.model_fields_set else stack.mongodb_url
    # The launcher waits up to this long for each of its steps (database, services, gateway).
    budget = 3 * stack.settings.startup_timeout_seconds
    return Target(url, settings.mongodb_db, stack.gateway_url, budget)


def wait_for_stack(gateway_url: str, timeout_seconds: float) -> bool:
    """Wait until the gateway reports every service ready; False if our parent (the launcher) exits first."""
    parent = os.getppid()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            with urllib.request.urlopen(f"{gateway_url}/health", timeout=2) as response:  # noqa: S310 - an http URL we build
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


async def _seed(target: Target, products: int, seed: int, follow_parent: bool) -> SeedSummary:
    client: MongoClient = AsyncMongoClient(
        target.mongodb_url, tz_aware=True, w="majority", serverSelectionTimeoutMS=CONNECT_TIMEOUT_MS
    )
    try:
        seeding = asyncio.ensure_future(seed_catalog(client[target.database], products=products, seed=seed))
        if follow_parent:
            watcher = asyncio.ensure_future(_parent_exited(os.getppid()))
            await asyncio.wait([seeding, watcher], return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
            if not seeding.done():
                seeding.cancel()
                raise KeyboardInterrupt  # the stack is stopping: stop with it
        return await seeding
    finally:
        await client.close()


async def _parent_exited(parent: int) -> None:
    """Return once the process that started us has gone (we are then adopted by another)."""
    while True:
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            return


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.seed", description="Load the demo catalog (idempotent)."
    )
    parser.add_argument(
        "--products", type=int, default=DEFAULT_PRODUCTS, help="how many (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the stack that `make run` is starting is ready, then seed (for `make run SEED=1`)",
    )
    args = parser.parse_args(argv)
    if args.products < 0:
        parser.error("--products must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait:
        # Started in the background by a shell, which ignores Ctrl-C for us; stop with the stack.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    configure_logging(SeedSettings.service_name, "WARNING")  # one summary line, not one per product
    try:
        settings = load_settings(SeedSettings)
    except SettingsError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    if settings.is_production:
        print("seed: refusing ENV=production: the demo catalog is for development only", file=sys.stderr)
        return 2
    target = resolve_target(settings)
    try:
        gateway = target.gateway_url if args.wait else None
        if gateway and not wait_for_stack(gateway, target.startup_timeout_seconds):
            print("seed: the stack did not become ready; nothing seeded", file=sys.stderr)
            return 1
        summary = asyncio.run(_seed(target, args.products, args.seed, follow_parent=args.wait))
    except KeyboardInterrupt:
        print("seed: interrupted", file=sys.stderr)
        return 130
    except PyMongoError as exc:
        print(
            f"seed: cannot seed database {target.database!r} on {where(target.mongodb_url)} "
            f"({type(exc).__name__}); is the stack running (`make run`)?",
            file=sys.stderr,
        )
        return 1
    print(f"{summary.line()} into {target.database!r} on {where(target.mongodb_url)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
