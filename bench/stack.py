"""A throw-away stack for benchmarks (fresh data directory, free ports, MONGODB_URL honoured), and
what measures load against it: one run's figures, `wrk`'s report, processes' CPU time."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.stack import Stack, free_port, settings_on_free_ports
from shared.settings import INTERNAL_TOKEN_HEADER

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
def running_stack(env: Mapping[str, str] | None = None, **overrides: object) -> Iterator[Stack]:
    """A throw-away stack on free ports; `overrides` replace the stack's own settings (StackSettings)."""
    with tempfile.TemporaryDirectory() as data_dir:
        overrides = {"mongodb_url": os.environ.get("MONGODB_URL") or None, **overrides}
        stack = Stack(
            settings_on_free_ports(Path(data_dir), **overrides),
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


# --- one load run, and the CPU it cost ---------------------------------------------------------


@dataclass
class Run:
    """One load run against one target: answered requests, their latencies, errors, CPU spent."""

    answered: int = 0
    seconds: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    errors: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0  # of the target's own processes over the run (nginx, gateway, catalog)

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.answered if self.answered else float("nan")


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> Run:
    run = Run()
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    run.seconds = float(total.group(2)) * scale
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        run.errors["non-2xx"] = int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        run.errors["socket"] = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    run.answered = int(total.group(1)) - run.errors["non-2xx"]
    for label, attribute in (("50%", "p50_ms"), ("99%", "p99_ms")):
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if found:
            setattr(run, attribute, float(found.group(1)) * _WRK_UNITS[found.group(2)])
    return run


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 0 here


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of `root` and every process below it (uvicorn workers, nginx's worker)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks, pending = 0, [root]
    while pending:
        pid = pending.pop()
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
        pending += children.get(pid, [])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


# --- nginx, the reference reverse proxy ---------------------------------------------------------

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
            proxy_set_header {token_header} "{token}";
        }}
    }}
}}
"""


@contextmanager
def nginx_in_front_of(upstream_url: str, token: str) -> Iterator[tuple[str, int] | None]:
    """nginx proxying to `upstream_url` on a free port (url, pid), or None when nginx is not installed."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as prefix:
        port = free_port()
        conf = Path(prefix) / "nginx.conf"
        upstream = upstream_url.removeprefix("http://")
        conf.write_text(
            NGINX_CONF.format(
                prefix=prefix, upstream=upstream, port=port, token_header=INTERNAL_TOKEN_HEADER, token=token
            )
        )
        process = subprocess.Popen(  # noqa: S603 - the nginx binary found above, our own config
            [binary, "-p", prefix, "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not wait_listening(port, process):
                print(
                    f"nginx did not start: {(Path(prefix) / 'error.log').read_text(errors='replace')[-500:]}"
                )
                yield None
                return
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)
