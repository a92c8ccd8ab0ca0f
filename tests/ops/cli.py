"""Running `python -m shop` as an operator would: a separate process, its own environment, its output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What a development shell might carry that must not leak into a test's configuration.
CLEARED = ("ENV", "MONGODB_URL", "MONGODB_DB", "SECRETS_DIR", "INTERNAL_TOKEN", "BACKUP_ENCRYPTION_KEY")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one error line, got: {self.stderr!r}"
        return lines[0]


def shop_env(**settings: str) -> dict[str, str]:
    """The parent environment without shop settings, plus `settings` (names in upper case)."""
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    return {**env, "LOG_LEVEL": "WARNING", **settings}


async def run_shop(
    *args: str, env: Mapping[str, str], cwd: Path, preexec: Callable[[], None] | None = None
) -> Ran:
    """`python -m shop ARGS` in `cwd` (so no developer's .env is read); waits at most two minutes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shop", *args,
        env=dict(env), cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())
