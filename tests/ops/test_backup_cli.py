"""`shop backup` and `shop restore` as an operator runs them: a round trip that keeps every value and
index, the mongodump layout, encryption, retention, and every refusal as one line, with nothing
written to any database."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import json_util
from bson.codec_options import CodecOptions

from devstack.stack import Stack
from shared.db import Database
from tests.ops.cli import Ran, run_shop, shop_env

REFUSED = 3
USAGE = 2


def env_for(stack: Stack, db: Database, **extra: str) -> dict[str, str]:
    return shop_env(ENV="test", MONGODB_URL=stack.mongodb_url, MONGODB_DB=db.name, **extra)


async def backup(
    stack: Stack, db: Database, root: Path, *args: str, cwd: Path | None = None, key: str | None = None
) -> Ran:
    extra = {"BACKUP_ENCRYPTION_KEY": key} if key else {}
    return await run_shop(
        "backup", "--to", str(root), "--json", *args, env=env_for(stack, db, **extra), cwd=cwd or root.parent
    )


async def made_backup(stack: Stack, db: Database, root: Path, key: str | None = None) -> Path:
    ran = await backup(stack, db, root, key=key)
    assert ran.code == 0, ran.stderr
    return Path(ran.json()["path"])


async def documents(db: Database, name: str) -> list[dict[str, Any]]:
    return await db[name].find().sort("_id", 1).to_list()


def dumped(path: Path) -> list[dict[str, Any]]:
    """The documents of a `.bson.gz` file, as mongorestore would read them."""
    found: list[dict[str, Any]] = bson.decode_all(
        gzip.decompress(path.read_bytes()), CodecOptions(tz_aware=True)
    )
    return sorted(found, key=lambda doc: doc["_id"])


async def index_specs(db: Database, name: str) -> dict[str, dict[str, Any]]:
    specs = {}
    async for spec in await db[name].list_indexes():
        specs[spec["name"]] = {k: v for k, v in spec.items() if k not in ("ns", "v")}
    return specs


async def test_a_round_trip_keeps_every_document_option_and_index(
    stack: Stack, source_db: Database, empty_db: Database, tmp_path: Path
) -> None:
    path = await made_backup(stack, source_db, tmp_path / "backups")
    ran = await run_shop("restore", "--from", str(path), "--db", empty_db.name, "--json",
                         env=env_for(stack, source_db), cwd=tmp_path)  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert sorted(await empty_db.list_collection_names()) == sorted(await source_db.list_collection_names())
    for name in await source_db.list_collection_names():
        assert await documents(empty_db, name) == await documents(source_db, name), name
        assert await index_specs(empty_db, name) == await index_specs(source_db, name), name
    options = (await empty_db.notes.options())["validator"]
    assert options == (await source_db.notes.options())["validator"]
    assert ran.json()["collections"]["products"]["documents"] == await source_db.products.count_documents({})


async def test_the_layout_is_mongodumps_and_the_manifest_checks_it(
    stack: Stack, source_db: Database, tmp_path: Path
) -> None:
    """What `mongorestore --gzip --dir` reads: <db>/<collection>.bson.gz and .metadata.json.gz."""
    path = await made_backup(stack, source_db, tmp_path / "backups")
    manifest = json.loads((path / "manifest.json").read_text())
    assert (manifest["format"], manifest["format_version"], manifest["database"]) == (
        "shop-backup",
        1,
        source_db.name,
    )
    # The embedded server accepts snapshot sessions but does not pin their reads: a transaction it is.
    assert manifest["consistency"]["method"] == "transaction"
    assert manifest["server"]["set_name"]
    stored = dumped(path / source_db.name / "products.bson.gz")
    assert stored == await documents(source_db, "products")
    metadata = json_util.loads(
        gzip.decompress((path / source_db.name / "products.metadata.json.gz").read_bytes())
    )
    assert metadata["collectionName"] == "products"
    assert {index["name"] for index in metadata["indexes"]} == {
        "_id_",
        "sku_unique",
        "active_newest",
        "code_partial",
    }
    for relative, entry in manifest["files"].items():
        assert (path / relative).stat().st_size == entry["size"]
    assert manifest["collections"]["products"]["count"] == len(stored)


async def refused_restore(stack: Stack, db: Database, path: Path, cwd: Path, *args: str, **extra: str) -> Ran:
    ran = await run_shop(
        "restore", "--from", str(path), "--db", db.name, *args, env=env_for(stack, db, **extra), cwd=cwd
    )
    assert ran.code != 0, ran.stdout
    assert await db.list_collection_names() == [], "a refused restore wrote to the database"
    return ran


def flip_a_byte(path: Path, database: str) -> str:
    target = path / database / "orders.bson.gz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return "orders.bson.gz is corrupted"


def truncate(path: Path, database: str) -> str:
    target = path / database / "products.bson.gz"
    target.write_bytes(target.read_bytes()[:-100])
    return "products.bson.gz is truncated"


def remove(path: Path, database: str) -> str:
    (path / database / "notes.metadata.json.gz").unlink()
    return "notes.metadata.json.gz is missing"


def add(path: Path, database: str) -> str:
    (path / database / "intruder.bson.gz").write_bytes(b"x")
    return "intruder.bson.gz is not in the manifest"


def miscount(path: Path, database: str) -> str:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["collections"]["orders"]["count"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    return "the manifest says 301"


def newer_format(path: Path, database: str) -> str:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    return "was written in backup format 99, newer than this tool reads"


@pytest.mark.parametrize("damage", [flip_a_byte, truncate, remove, add, miscount, newer_format])
async def test_a_damaged_backup_is_refused_before_anything_is_written(
    stack: Stack, source_db: Database, empty_db: Database, tmp_path: Path, damage: Any
) -> None:
    path = await made_backup(stack, source_db, tmp_path / "backups")
    expected = damage(path, source_db.name)
    ran = await refused_restore(stack, empty_db, path, tmp_path)
    assert ran.code == REFUSED
    assert expected in ran.error_line


async def test_a_restore_refuses_a_database_with_documents_unless_told_to_drop(
    stack: Stack, source_db: Database, empty_db: Database, tmp_path: Path
) -> None:
    path = await made_backup(stack, source_db, tmp_path / "backups")
    await empty_db.orders.insert_one({"mine": True})
    await empty_db.extra.insert_one({"kept": True})
    env = env_for(stack, empty_db)
    refused = await run_shop("restore", "--from", str(path), env=env, cwd=tmp_path)
    assert refused.code == REFUSED
    assert "is not empty (extra, orders hold documents)" in refused.error_line
    assert await empty_db.orders.count_documents({}) == 1
    dropped = await run_shop("restore", "--from", str(path), "--drop", "--json", env=env, cwd=tmp_path)
    assert dropped.code == 0, dropped.stderr
    assert dropped.json()["left_alone"] == ["extra"]
    assert await empty_db.orders.count_documents({"mine": True}) == 0
    assert await empty_db.orders.count_documents({}) == await source_db.orders.count_documents({})


async def test_an_encrypted_backup_needs_its_key_and_detects_tampering(
    stack: Stack, source_db: Database, empty_db: Database, tmp_path: Path
) -> None:
    key = "k" + "ey-of-the-drill-0123456789abcdefghij"  # pragma: allowlist secret (clearly fake)
    path = await made_backup(stack, source_db, tmp_path / "backups", key=key)
    stored = (path / source_db.name / "products.bson.gz.enc").read_bytes()
    assert not stored.startswith(b"\x1f\x8b")
    assert b"SKU-00001" not in stored
    no_key = await refused_restore(stack, empty_db, path, tmp_path)
    assert (no_key.code, "is encrypted: set BACKUP_ENCRYPTION_KEY" in no_key.error_line) == (USAGE, True)
    wrong = await refused_restore(stack, empty_db, path, tmp_path, BACKUP_ENCRYPTION_KEY=key[::-1])
    assert "is not the key" in wrong.error_line
    # Someone who can rewrite the manifest too: the checksums match, the authentication does not.
    tampered = bytearray(stored)
    tampered[-20] ^= 1
    (path / source_db.name / "products.bson.gz.enc").write_bytes(bytes(tampered))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][f"{source_db.name}/products.bson.gz.enc"]["sha256"] = hashlib.sha256(
        tampered
    ).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    forged = await refused_restore(stack, empty_db, path, tmp_path, BACKUP_ENCRYPTION_KEY=key)
    assert "products.bson.gz.enc cannot be read back" in forged.error_line


async def test_an_encrypted_backup_restores_and_decrypts_for_mongorestore(
    stack: Stack, source_db: Database, empty_db: Database, tmp_path: Path
) -> None:
    key = "k" + "ey-of-the-drill-0123456789abcdefghij"  # pragma: allowlist secret (clearly fake)
    path = await made_backup(stack, source_db, tmp_path / "backups", key=key)
    env = env_for(stack, empty_db, BACKUP_ENCRYPTION_KEY=key)
    ran = await run_shop("restore", "--from", str(path), "--json", env=env, cwd=tmp_path)
    assert ran.code == 0, ran.stderr
    assert await documents(empty_db, "products") == await documents(source_db, "products")
    plain = tmp_path / "plain"
    decrypted = await run_shop("decrypt", "--from", str(path), "--to", str(plain), env=env, cwd=tmp_path)
    assert decrypted.code == 0, decrypted.stderr
    assert dumped(plain / source_db.name / "products.bson.gz") == await documents(source_db, "products")
