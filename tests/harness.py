"""Test plumbing shared by suites that attack the stack from outside: extra gateways with settings
of their own in front of the session stack's services, and raw HTTP that no client library
rewrites (httpx and browsers remove `..` segments and re-encode paths before sending them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.stack import SERVICES, Stack
from tests.conftest import stack_settings


@contextmanager
def extra_gateway(main: Stack, root: Path, env: Mapping[str, str]) -> Iterator[Stack]:
    """A gateway with `env` in front of the main stack's services (same internal token and JWKS)."""
    extra = Stack(stack_settings(root / "data"), env={}, log_dir=root / "logs")
    extra.child_env = {**main.child_env, "DATA_DIR": str(root / "data")}
    upstreams = {f"{name.upper()}_SERVICE_URL": main.url_of(name) for name in SERVICES}
    try:
        extra.start_app("gateway", env={**upstreams, **env})
        yield extra
    finally:
        extra.stop()


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_exchange(url: str, head: bytes) -> bytes:
    """Send bytes exactly as given on a fresh connection; the answer's head and body as received."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.readuntil(b"\r\n\r\n")
            for line in answer.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    answer += await reader.readexactly(int(line.split(b":")[1]))
            return answer
    except asyncio.IncompleteReadError as closed:
        return closed.partial
    finally:
        writer.close()


async def raw_request(
    url: str,
    method: str,
    target: bytes,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawAnswer:
    """One HTTP/1.1 request with `target` sent byte for byte (no normalisation of any kind)."""
    host = url.removeprefix("http://")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host.encode(), b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    answer = await raw_exchange(url, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    head, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), parsed, payload)
