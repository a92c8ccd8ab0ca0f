"""A MongoDB server with authentication for the database-user tests: the embedded server started with
--auth, or the real MongoDB named by MONGODB_ADMIN_URL (the hosted CI workflow runs one)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from devstack.stack import free_port


@dataclass(frozen=True)
class AuthServer:
    host: str  # host:port
    admin_url: str
    options: str  # what every URL to this server needs besides credentials (replica set, ...)
    embedded: bool

    def url(self, user: str, password: str, db: str) -> str:
        return f"mongodb://{user}:{password}@{self.host}/{db}?authSource={db}&{self.options}"


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            client: MongoClient[dict[str, object]]
            with MongoClient(url, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
            return
        except PyMongoError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded server did not start (exit {process.poll()})") from None
            time.sleep(0.1)


def _start(executable: str, port: int, storage: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [executable, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage), *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """The real server in MONGODB_ADMIN_URL, else the embedded one with --auth and an administrator.

    The embedded server is provisioned as its documentation says: an administrator created while
    authentication is off, then a restart with --auth.
    """
    external = os.environ.get("MONGODB_ADMIN_URL")
    if external:
        from urllib.parse import urlsplit

        parts = urlsplit(external)
        yield AuthServer(parts.netloc.rpartition("@")[2], external, parts.query, embedded=False)
        return
    executable = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or shutil.which(
        "secantusd-py"
    )
    if executable is None:
        pytest.skip("the embedded server (secantusd-py) is not installed")
    storage, port = tmp_path_factory.mktemp("auth-db"), free_port()
    options = "replicaSet=secantus&directConnection=true"
    password = secrets.token_urlsafe(24)
    process = _start(executable, port, storage)
    try:
        _wait(f"mongodb://127.0.0.1:{port}/?{options}", process)
        setup: MongoClient[dict[str, object]]
        with MongoClient(f"mongodb://127.0.0.1:{port}/?{options}") as setup:
            setup.admin.command("createUser", "admin", pwd=password, roles=[{"role": "root", "db": "admin"}])
    finally:
        process.terminate()
        process.wait(timeout=30)
    process = _start(executable, port, storage, "--auth")
    admin_url = f"mongodb://admin:{password}@127.0.0.1:{port}/?authSource=admin&{options}"
    try:
        _wait(admin_url, process)
        yield AuthServer(f"127.0.0.1:{port}", admin_url, options, embedded=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
