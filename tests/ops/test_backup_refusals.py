"""`shop backup` refusing bad input in one line, never leaving a backup that looks valid, and keeping
only what retention says."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.stack import Stack, free_port
from shared.db import Database
from tests.ops.cli import run_shop, shop_env
from tests.ops.test_backup_cli import REFUSED, backup, env_for, made_backup


def nothing_kept(root: Path) -> None:
    leftovers = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert leftovers == [], f"a refused backup left {leftovers}"


async def test_an_unreachable_database_is_named(tmp_path: Path) -> None:
    url = f"mongodb://127.0.0.1:{free_port()}/?replicaSet=rs0"
    env = shop_env(ENV="test", MONGODB_URL=url, MONGODB_STARTUP_TIMEOUT_SECONDS="1")
    ran = await run_shop("backup", "--to", str(tmp_path / "backups"), env=env, cwd=tmp_path)
    assert ran.code == REFUSED
    assert "cannot reach the database at 127.0.0.1:" in ran.error_line
    nothing_kept(tmp_path / "backups")


@pytest.fixture
async def guarded_server(tmp_path: Path) -> AsyncIterator[int]:
    """An embedded server that demands authentication (and has no user the test could know)."""
    port = free_port()
    executable = Path(sys.executable).parent / "secantusd-py"
    command = [
        str(executable),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        ":memory:",
        "--auth",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.to_thread(_wait_until_listening, port)
        yield port
    finally:
        process.terminate()
        await process.wait()


def _wait_until_listening(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(port)


async def test_wrong_credentials_are_named(guarded_server: int, tmp_path: Path) -> None:
    fake = "intruder:not-the-password"  # no such user exists on the server
    url = f"mongodb://{fake}@127.0.0.1:{guarded_server}/?replicaSet=secantus&directConnection=true"
    env = shop_env(ENV="test", MONGODB_URL=url, MONGODB_STARTUP_TIMEOUT_SECONDS="5")
    ran = await run_shop("backup", "--to", str(tmp_path / "backups"), env=env, cwd=tmp_path)
    assert ran.code == REFUSED
    assert "refused the credentials in MONGODB_URL (authentication failed)" in ran.error_line
    assert "not-the-password" not in ran.stderr
    nothing_kept(tmp_path / "backups")


async def test_a_target_that_cannot_be_written_is_named(
    stack: Stack, source_db: Database, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ran = await backup(stack, source_db, blocker / "backups", cwd=tmp_path)
    assert ran.code == REFUSED
    assert f"cannot write to {blocker / 'backups'}: Not a directory" in ran.error_line
    assert ran.json()["ok"] is False


async def test_a_target_that_is_a_backup_is_refused(
    stack: Stack, source_db: Database, tmp_path: Path
) -> None:
    path = await made_backup(stack, source_db, tmp_path / "backups")
    ran = await backup(stack, source_db, path)
    assert ran.code == REFUSED
    assert "already holds a backup (manifest.json)" in ran.error_line
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", source_db.name]


def small_disk() -> None:
    """In the child: files may not grow past 64 KiB, as on a disk that fills part-way (EFBIG, not a kill)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


async def test_a_disk_full_part_way_leaves_no_backup(
    stack: Stack, source_db: Database, mongo: object, tmp_path: Path
) -> None:
    # Data that does not compress, so the backup must pass the limit half-way through.
    filler = source_db.client[f"{source_db.name}_big"]
    await filler.blobs.insert_many([{"blob": os.urandom(4096)} for _ in range(64)])
    try:
        root = tmp_path / "backups"
        ran = await run_shop(
            "backup", "--to", str(root), env=env_for(stack, filler), cwd=tmp_path, preexec=small_disk
        )
        assert ran.code == REFUSED
        assert "cannot write the backup: File too large" in ran.error_line
        assert "nothing was kept" in ran.error_line
        nothing_kept(root)
    finally:
        await source_db.client.drop_database(filler.name)


async def test_retention_keeps_the_newest(stack: Stack, source_db: Database, tmp_path: Path) -> None:
    root = tmp_path / "backups"
    made = [await made_backup(stack, source_db, root) for _ in range(3)]
    ran = await backup(stack, source_db, root, "--keep", "2")
    assert ran.code == 0, ran.stderr
    assert ran.json()["pruned"] == [str(made[0]), str(made[1])]
    assert sorted(p.name for p in root.iterdir()) == sorted([made[2].name, Path(ran.json()["path"]).name])
    listed = await run_shop(
        "backups", "--dir", str(root), "--json", env=env_for(stack, source_db), cwd=tmp_path
    )
    assert [row["valid"] for row in listed.json()["backups"]] == [True, True]
    stale = await run_shop(
        "backups",
        "--dir",
        str(root),
        "--max-age-hours",
        "0.000001",
        env=env_for(stack, source_db),
        cwd=tmp_path,
    )
    assert stale.code == 1


async def test_help_is_there_for_every_command(tmp_path: Path) -> None:
    env = shop_env()
    top = await run_shop("--help", env=env, cwd=tmp_path)
    assert top.code == 0
    assert "shop backup --to" in top.stdout
    assert "exit codes" in top.stdout
    for command in ("backup", "restore", "backups", "decrypt", "audit-data", "launch-check"):
        ran = await run_shop(command, "--help", env=env, cwd=tmp_path)
        assert (ran.code, "--json" in ran.stdout) == (0, True), command
