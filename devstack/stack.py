"""Start and stop the whole stack as separate processes, as in production.

Used by `make run` (through `python -m devstack`) and by the test suite's session fixture, so the
tests exercise the same start-up path that developers run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "catalog", "order", "payment")
APP_FACTORIES = {
    "auth": "services.auth.app:create_app",
    "catalog": "services.catalog.app:create_app",
    "order": "services.order.app:create_app",
    "payment": "services.payment.app:create_app",
    "gateway": "gateway.app:create_app",
}
EMBEDDED_DB = "mongodb"
STOP_GRACE_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


class StackSettings(BaseSettings):
    """Where the local stack listens and keeps its data (environment or `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    gateway_port: int = 8000
    auth_port: int = 8001
    catalog_port: int = 8002
    order_port: int = 8003
    payment_port: int = 8004
    embedded_mongodb_port: int = 27018
    # The gateway's metrics listener (its METRICS_PORT: /metrics is never on the public port).
    gateway_metrics_port: int = 9100
    # Where browsers reach the gateway (the payment service builds callback and page addresses from
    # it); unset, the local gateway's own address, so it follows GATEWAY_PORT.
    public_base_url: str | None = None
    # When set, that server is used and no embedded one is started.
    mongodb_url: str | None = None
    startup_timeout_seconds: float = Field(default=90.0, gt=0)
    # Fsync the embedded database's log on every commit. Without it a write acknowledged (even with
    # majority write concern) sits in the server's memory for a while and a hard kill loses it.
    embedded_mongodb_sync_on_commit: bool = True
    # The embedded database's cache (its --cache-size, "512M", "8G"); unset, the server's own default
    # of 1 GiB, which holds the demo data with room to spare. Changes are written out from the cache
    # only so fast: a bulk load bigger than it (100,000 products with their ~10 million search index
    # entries) stalls once the cache is full, so the listing benchmark raises it.
    embedded_mongodb_cache_size: str | None = Field(default=None, pattern=r"^[1-9][0-9]*[MG]$")
    # A crashed process is restarted after this delay, doubled for each further crash up to the
    # maximum; a process that stayed up RESTART_STABLE_SECONDS starts again from the first delay.
    restart_backoff_initial_seconds: float = Field(default=0.5, gt=0)
    restart_backoff_max_seconds: float = Field(default=10.0, gt=0)
    restart_stable_seconds: float = Field(default=30.0, gt=0)
    # Restarts in a row after which the embedded database, not answering, is given up (and the stack stopped).
    db_restart_attempts: int = Field(default=5, ge=1)

    def port_of(self, name: str) -> int:
        port: int = getattr(self, f"{name}_port")
        return port


class StackError(RuntimeError):
    """The stack could not start; the message says what to do."""


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: IO[bytes] | None = None
    # What started it, so the supervisor can start it again the same way.
    command: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Stack:
    """The running stack. `log_dir` None sends every process's output to this terminal."""

    settings: StackSettings
    env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    child_env: dict[str, str] = field(init=False)
    # Held while processes are started, stopped or restarted: the supervisor may run in another thread.
    lock: threading.RLock = field(init=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.child_env = self._build_child_env()

    @property
    def embedded(self) -> bool:
        return not self.settings.mongodb_url

    @property
    def mongodb_url(self) -> str:
        if self.settings.mongodb_url:
            return self.settings.mongodb_url
        return f"mongodb://{self.settings.host}:{self.settings.embedded_mongodb_port}/?replicaSet=secantus"

    @property
    def gateway_url(self) -> str:
        return self.url_of("gateway")

    def url_of(self, name: str) -> str:
        return f"http://{self.settings.host}:{self.settings.port_of(name)}"

    @property
    def gateway_metrics_url(self) -> str:
        """Where Prometheus (or a test) reads the gateway's metrics."""
        return f"http://{self.settings.host}:{self.settings.gateway_metrics_port}/metrics"

    def start(self) -> None:
        """Database first, then the services together, then the gateway; each waited for until ready."""
        self._check_ports_free()
        try:
            if self.embedded:
                self.start_embedded_db()
            for name in SERVICES:
                self.start_app(name, wait=False)
            for name in SERVICES:
                self.wait_ready(name)
            self.start_app("gateway")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Gateway first (no new traffic), then the services, the database last."""
        with self.lock:
            self._stop_processes(["gateway", *SERVICES])
            self._stop_processes([EMBEDDED_DB])

    def stop_processes(self, names: list[str]) -> None:
        with self.lock:
            self._stop_processes(names)

    def _stop_processes(self, names: list[str]) -> None:
        stopping = [self.processes.pop(name) for name in names if name in self.processes]
        for process in stopping:
            if process.running:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in stopping:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
            if process.log:
                process.log.close()

    def start_app(self, name: str, *, wait: bool = True, env: Mapping[str, str] | None = None) -> None:
        """Start one service (or the gateway) under uvicorn; `env` overrides its environment."""
        port = self.settings.port_of(name)
        command = [
            sys.executable, "-m", "uvicorn", "--factory", APP_FACTORIES[name],
            "--host", self.settings.host, "--port", str(port),
            "--no-access-log",  # the request-context middleware logs each request as JSON
            "--no-server-header",  # no banner naming the framework
            "--no-proxy-headers",  # client addresses come from the gateway, vouched for by its token
            "--timeout-keep-alive", "5",  # idle keep-alive connections are not held open for long
            "--timeout-graceful-shutdown", "10",
        ]  # fmt: skip
        if name == "gateway":  # the public door: bounded request heads and connections (deploy/README.md)
            metrics_at = {
                "METRICS_HOST": self.settings.host,
                "METRICS_PORT": str(self.settings.gateway_metrics_port),
            }
            env = {**metrics_at, **(env or {})}
            command += [
                # httptools with a bound on the request head (uvicorn's own buffers a head of any size)
                "--http", "gateway.server:BoundedHttpToolsProtocol",
                "--loop", "uvloop",
                "--limit-concurrency", "1000",  # connections + tasks; beyond it a fast 503
                "--backlog", "2048",  # accept bursts; above that the kernel drops SYNs
            ]  # fmt: skip
        with self.lock:
            self.processes[name] = self._spawn(
                name, command, self.url_of(name), {**self.child_env, **(env or {})}
            )
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + self.settings.startup_timeout_seconds
        while time.monotonic() < deadline:
            self._require_running(process)
            if http_ready(f"{process.url}/health/ready"):
                return
            time.sleep(0.1)
        raise StackError(f"{name} did not become ready within {self.settings.startup_timeout_seconds:.0f}s")

    def respawn(self, name: str) -> ManagedProcess:
        """Start a process that has exited again, with the same command and environment.

        The embedded database is waited for (StackError if it exits or stays silent; it is then
        killed); a service or the gateway is not, so one slow start holds up nothing else.
        """
        with self.lock:
            old = self.processes[name]
            if old.log:
                old.log.close()
            process = self._spawn(name, old.command, old.url, old.env)
            self.processes[name] = process
            if name == EMBEDDED_DB:
                try:
                    wait_for_mongodb(process, self.mongodb_url, self.settings.startup_timeout_seconds)
                except StackError:
                    if process.running:
                        process.popen.kill()
                        process.popen.wait()
                    raise
            return process

    def exited(self) -> list[str]:
        """Names of managed processes that are no longer running."""
        return [name for name, process in self.processes.items() if not process.running]

    def start_embedded_db(self) -> None:
        executable = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or shutil.which(
            "secantusd-py"
        )
        if not executable:
            raise StackError(
                "secantusd-py not found: install the embedded extra (pip install -e '.[embedded]')"
            )
        storage = self.settings.data_dir / "mongodb"
        storage.mkdir(parents=True, exist_ok=True)
        command = [
            executable, "--host", self.settings.host, "--port", str(self.settings.embedded_mongodb_port),
            "--storage-path", str(storage), "--log-level", "WARNING",
        ]  # fmt: skip
        if self.settings.embedded_mongodb_sync_on_commit:
            command.append("--sync-on-commit")
        if self.settings.embedded_mongodb_cache_size:
            command += ["--cache-size", self.settings.embedded_mongodb_cache_size]
        url = f"mongodb://{self.settings.host}:{self.settings.embedded_mongodb_port}"
        with self.lock:
            process = self._spawn(EMBEDDED_DB, command, url, dict(os.environ))
            self.processes[EMBEDDED_DB] = process
        wait_for_mongodb(process, self.mongodb_url, self.settings.startup_timeout_seconds)

    def _spawn(self, name: str, command: list[str], url: str, env: Mapping[str, str]) -> ManagedProcess:
        log: IO[bytes] | None = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{name}.log").open("ab")
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and executables, no shell
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,  # the launcher, not the terminal, decides the shutdown order
            preexec_fn=_die_with_parent,  # only sets a kernel flag
        )
        return ManagedProcess(name, popen, url, log, command=command, env=env)

    def _build_child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MONGODB_URL": self.mongodb_url,
                "DATA_DIR": str(self.settings.data_dir),
                "AUTH_JWKS_URL": f"{self.url_of('auth')}/api/v1/auth/.well-known/jwks.json",
                "PYTHONUNBUFFERED": "1",
                "PUBLIC_BASE_URL": self.settings.public_base_url or self.url_of("gateway"),
                "INTERNAL_TOKEN": os.environ.get("INTERNAL_TOKEN") or secrets.token_urlsafe(32),
                **{f"{name.upper()}_SERVICE_URL": self.url_of(name) for name in SERVICES},
            }
        )
        env.update(self.env)
        return env

    def _check_ports_free(self) -> None:
        names = ["gateway", *SERVICES, "gateway_metrics"]
        ports = {name: self.settings.port_of(name) for name in names}
        if self.embedded:
            ports[EMBEDDED_DB] = self.settings.embedded_mongodb_port
        taken = [
            f"{name} port {port}"
            for name, port in ports.items()
            if not port_is_free(self.settings.host, port)
        ]
        if taken:
            raise StackError(
                "already in use: " + ", ".join(taken) + " (stop the other process or set e.g. GATEWAY_PORT)"
            )

    @staticmethod
    def _require_running(process: ManagedProcess) -> None:
        if not process.running:
            raise StackError(f"{process.name} exited with code {process.popen.returncode} during start-up")


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when the launcher dies, so nothing is left behind."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port now (as servers do, ignoring TIME_WAIT leftovers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def settings_on_free_ports(data_dir: Path, **overrides: object) -> StackSettings:
    """Stack settings with every port free and distinct (for tests and benchmarks); ignores `.env`."""
    names = ["gateway", *SERVICES, "embedded_mongodb", "gateway_metrics"]
    ports: set[int] = set()
    while len(ports) < len(names):
        ports.add(free_port())
    values: dict[str, object] = {
        "data_dir": data_dir,
        **{f"{name}_port": port for name, port in zip(names, sorted(ports), strict=True)},
        **overrides,
    }
    return StackSettings(_env_file=None, **values)  # type: ignore[arg-type]


def http_ready(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) URLs we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for_mongodb(process: ManagedProcess, url: str, timeout_seconds: float) -> None:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        Stack._require_running(process)
        client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=300)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            time.sleep(0.1)
        finally:
            client.close()
    raise StackError(f"the embedded database did not answer within {timeout_seconds:.0f}s")
