"""`shop` (or `python -m shop`): the operator's tool. `shop --help` lists the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from shop.console import EXIT_USAGE, OperatorError, report_error
from shop.settings import SettingsError, ShopSettings, shop_settings

DESCRIPTION = """\
Operate a shop deployment: back its database up and restore it, audit its data, and check that it
is fit to launch. Settings come from the environment like every other process's (MONGODB_URL,
MONGODB_DB, BACKUP_DIR, BACKUP_ENCRYPTION_KEY, ...; see .env.example), secrets also from SECRETS_DIR.
"""
EPILOG = """\
examples:
  shop backup --to /backups --keep 14       a consistent backup while the shop runs, keep the newest 14
  shop backups --dir /backups               list them, newest last, with their age
  shop restore --from /backups/shop-20250101T020000.000Z --db shop_restored
  shop audit-data --db shop_restored        check the shop's invariants (read-only)
  shop launch-check --url https://api.shop.example

every command takes --json (one JSON document on stdout) and --help.
exit codes: 0 done, READY or every invariant holds; 1 the check found a problem (NOT READY, an
invariant fails, backups too old); 2 bad usage or settings; 3 refused or failed, nothing written.
"""


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout instead of text"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shop",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    backup = commands.add_parser(
        "backup",
        help="write every collection as of one point in time (while the shop keeps taking orders)",
        description="Write a consistent, compressed (and, with BACKUP_ENCRYPTION_KEY, encrypted) backup of "
        "MONGODB_DB into a new directory DIR/shop-<UTC time>, with a manifest of counts and SHA-256 "
        "checksums. `mongorestore --gzip --dir` reads unencrypted backups too.",
    )
    backup.add_argument("--to", metavar="DIR", help="folder that holds the backups (default: BACKUP_DIR)")
    backup.add_argument("--db", metavar="NAME", help="database to back up (default: MONGODB_DB)")
    backup.add_argument(
        "--keep", type=int, metavar="N", help="afterwards keep only the newest N backups (BACKUP_KEEP)"
    )
    backup.add_argument(
        "--keep-days", type=float, metavar="D", help="afterwards delete backups older than D days"
    )
    backup.add_argument(
        "--consistency",
        choices=("auto", "snapshot-session", "transaction"),
        default="auto",
        help="how one point in time is read (default auto: a snapshot session on MongoDB 5.0+, "
        "a read-only transaction on the embedded server)",
    )
    _json(backup)

    restore = commands.add_parser(
        "restore",
        help="verify a backup completely, then restore it into an empty database",
        description="Verify every file of the backup (presence, size, SHA-256, decryption, document counts) "
        "before writing anything, then restore the documents and recreate the indexes. Refuses a "
        "database that holds documents unless --drop is given. Stop the services first.",
    )
    restore.add_argument(
        "--from", dest="source", required=True, metavar="DIR", help="the backup directory (shop-<time>)"
    )
    restore.add_argument("--db", metavar="NAME", help="database to restore into (default: MONGODB_DB)")
    restore.add_argument(
        "--drop", action="store_true", help="replace the backup's collections in a non-empty database"
    )
    restore.add_argument(
        "--verify-only", action="store_true", help="verify the backup and stop; write nothing"
    )
    _json(restore)

    listing = commands.add_parser("backups", help="list the backups in a folder, with their age")
    listing.add_argument("--dir", metavar="DIR", help="folder that holds the backups (default: BACKUP_DIR)")
    listing.add_argument(
        "--max-age-hours", type=float, metavar="H", help="exit 1 when the newest is older (health checks)"
    )
    _json(listing)

    decrypt = commands.add_parser(
        "decrypt", help="write an unencrypted copy of an encrypted backup (for mongorestore)"
    )
    decrypt.add_argument("--from", dest="source", required=True, metavar="DIR", help="the encrypted backup")
    decrypt.add_argument("--to", required=True, metavar="DIR", help="a new directory for the copy")
    _json(decrypt)

    audit = commands.add_parser(
        "audit-data",
        help="check the shop's invariants on a database and name the offending documents (read-only)",
        description="Read the database at one point in time and check: stock balance, order lines, whole "
        "orders, paid orders with their payments and back, refunds within captures. Run it after an "
        "incident.",
    )
    audit.add_argument("--db", metavar="NAME", help="database to audit (default: MONGODB_DB)")
    audit.add_argument(
        "--baseline", metavar="DIR", help="an earlier backup: the stock each product had then is its start"
    )
    _json(audit)

    launch = commands.add_parser(
        "launch-check",
        help="PASS/FAIL of every launch requirement; prints READY or NOT READY (n blocking)",
        description="Read the production settings of every process (as ENV=production would) and, with "
        "--url, probe the running gateway. Exits 1 while anything blocks launch.",
    )
    launch.add_argument(
        "--url", metavar="URL", help="the gateway's public address, to probe headers and paths"
    )
    _json(launch)

    commands.add_parser("seed", help="load the demo catalog (development only; see `shop seed --help`)")
    return parser


def _seed(arguments: list[str]) -> int:
    try:
        from devtools.seed import main as seed_main
    except ImportError:  # the image carries the services and this tool, not the development tools
        print(
            "shop seed: the demo seeder is a development tool, not part of this installation", file=sys.stderr
        )
        return EXIT_USAGE
    return seed_main(arguments)


def _settings() -> ShopSettings:
    try:
        return shop_settings()
    except SettingsError as exc:
        raise OperatorError(str(exc), EXIT_USAGE) from None


def _dispatch(args: argparse.Namespace) -> int:
    from shop import backup_commands, check_commands

    if args.command == "launch-check":
        return check_commands.run_launch_check(args)
    runners: dict[str, Callable[[argparse.Namespace, ShopSettings], int]] = {
        "backup": backup_commands.run_backup,
        "restore": backup_commands.run_restore,
        "backups": backup_commands.run_backups,
        "decrypt": backup_commands.run_decrypt,
        "audit-data": check_commands.run_audit,
    }
    return runners[args.command](args, _settings())


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["seed"]:
        return _seed(arguments[1:])  # every argument after `seed` is the seeder's (`--help` too)
    args = build_parser().parse_args(arguments)
    try:
        return _dispatch(args)
    except OperatorError as exc:
        return report_error(args.command, exc, as_json=args.json)
    except KeyboardInterrupt:
        print(f"shop {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
