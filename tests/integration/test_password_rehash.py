"""Raising the Argon2 cost takes effect for existing accounts at their next login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from shared.db import Database
from tests.builders import register
from tests.conftest import internal_headers, stack_settings


@pytest.fixture(scope="module")
def costlier_auth(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second auth process on the same database and keys, with a higher Argon2 time cost."""
    root: Path = tmp_path_factory.mktemp("costlier-auth")
    costlier = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    costlier.child_env = {**stack.child_env, "DATA_DIR": str(stack.settings.data_dir)}
    try:
        costlier.start_app("auth", env={"ARGON2_TIME_COST": "4"})
        yield costlier
    finally:
        costlier.stop()


async def test_login_rehashes_with_the_new_parameters(
    gateway: httpx.AsyncClient, costlier_auth: Stack, db: Database
) -> None:
    account = await register(gateway)
    before = await db.users.find_one({"email": account.email})
    assert before is not None
    assert ",t=3," in before["password_hash"]

    async with httpx.AsyncClient(
        base_url=costlier_auth.url_of("auth"), timeout=30, headers=internal_headers()
    ) as direct:
        response = await direct.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
    assert response.status_code == 200

    after = await db.users.find_one({"email": account.email})
    assert after is not None
    assert ",t=4," in after["password_hash"]
    assert after["password_hash"] != before["password_hash"]
    # The old service still verifies the new hash (Argon2 hashes carry their own parameters).
    login_again = await gateway.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login_again.status_code == 200
