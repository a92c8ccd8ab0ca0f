"""Create or update the shop's MongoDB roles and users (deploy/mongodb/roles.py), idempotently.

    python -m deploy.mongodb.provision [--secrets-dir /run/secrets] [--db shop]

Connects with the administrator's URL from `<secrets-dir>/mongodb_admin_url` and, for every
principal that has a file `<secrets-dir>/mongodb_url_<name>` (`mongodb_url_order`, ...), creates
its role (or brings the role's privileges up to date) and its user with the user name and password
of that URL, so each service's URL and its database user can never disagree. Users live in the shop
database (`authSource=<db>`). Run again after a password rotation or a change of roles.py: it
converges. Prints what it did, never a password; exits 2 on bad input, 3 when the database refuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from deploy.mongodb.roles import PRINCIPALS, Principal

ADMIN_URL_FILE = "mongodb_admin_url"
EXIT_USAGE = 2
EXIT_DATABASE = 3


class ProvisionError(Exception):
    """Input that cannot be provisioned; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def credentials_of(url: str, db: str, source: str) -> Credentials:
    """The user and password of a service URL, which must authenticate against `db`."""
    parts = urlsplit(url)
    if parts.scheme not in ("mongodb", "mongodb+srv") or "@" not in parts.netloc:
        raise ProvisionError(f"{source}: not a mongodb:// URL with a user and password")
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user, _, password = userinfo.partition(":")
    if not user or not password:
        raise ProvisionError(f"{source}: the URL names no user or no password")
    options = {
        key.lower(): value for key, _, value in (p.partition("=") for p in parts.query.split("&") if p)
    }
    auth_source = options.get("authsource") or parts.path.lstrip("/") or "admin"
    if auth_source != db:
        raise ProvisionError(f"{source}: authSource is {auth_source!r}; the shop's users live in {db!r}")
    return Credentials(unquote(user), unquote(password))


def read_urls(secrets_dir: Path, db: str) -> dict[str, Credentials]:
    found = {}
    for candidate in PRINCIPALS:
        path = secrets_dir / f"mongodb_url_{candidate.name}"
        if path.is_file():
            found[candidate.name] = credentials_of(path.read_text().strip(), db, path.name)
    if not found:
        raise ProvisionError(f"no mongodb_url_<name> file in {secrets_dir}")
    return found


def _exists(db: Any, command: str, name: str, key: str) -> bool:
    return bool(db.command(command, name)[key])


def ensure_role(db: Any, who: Principal) -> str:
    """Create the principal's custom role or set its privileges to roles.py's; built-in roles exist."""
    if who.builtin_role:
        return f"built-in role {who.builtin_role}"
    privileges = who.privileges(db.name)
    if _exists(db, "rolesInfo", who.role_name, "roles"):
        db.command("updateRole", who.role_name, privileges=privileges, roles=[])
        return f"role {who.role_name} updated"
    db.command("createRole", who.role_name, privileges=privileges, roles=[])
    return f"role {who.role_name} created"


def ensure_user(db: Any, who: Principal, credentials: Credentials) -> str:
    roles = [{"role": who.role_name, "db": db.name}]
    if _exists(db, "usersInfo", credentials.user, "users"):
        db.command("updateUser", credentials.user, pwd=credentials.password, roles=roles)
        return f"user {credentials.user} updated"
    db.command("createUser", credentials.user, pwd=credentials.password, roles=roles)
    return f"user {credentials.user} created"


def provision(admin_url: str, db_name: str, users: dict[str, Credentials]) -> list[str]:
    """Roles first, then users; returns one line per action taken."""
    done = []
    client: MongoClient[dict[str, Any]] = MongoClient(admin_url, serverSelectionTimeoutMS=30_000)
    with client:
        db = client.get_database(db_name)
        for who in PRINCIPALS:
            if who.name in users:
                done.append(f"{who.name}: {ensure_role(db, who)}; {ensure_user(db, who, users[who.name])}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.mongodb.provision", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--secrets-dir", type=Path, default=Path(os.environ.get("SECRETS_DIR") or "/run/secrets")
    )
    parser.add_argument("--db", default=os.environ.get("MONGODB_DB") or "shop")
    args = parser.parse_args(argv)
    admin_file = args.secrets_dir / ADMIN_URL_FILE
    try:
        if not admin_file.is_file():
            raise ProvisionError(f"{admin_file} is missing (the administrator's mongodb:// URL)")
        users = read_urls(args.secrets_dir, args.db)
        for line in provision(admin_file.read_text().strip(), args.db, users):
            print(f"mongodb-users: {line}")
    except ProvisionError as exc:
        print(f"mongodb-users: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PyMongoError as exc:
        print(f"mongodb-users: error: the database refused: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    print(f"mongodb-users: {len(users)} users ready in database {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
