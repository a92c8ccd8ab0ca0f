"""Reading every collection as of one point in time while the shop keeps writing.

Two ways, chosen per server (`--consistency auto`):

- **snapshot-session** (MongoDB 5.0+ replica sets): `start_session(snapshot=True)`; the first read
  pins a cluster time and every later read of the session, in any collection, sees the data as of
  it. MongoDB keeps that history for `minSnapshotHistoryWindowInSeconds` (300 s by default): a backup
  that takes longer fails with SnapshotTooOld and must be retried with a larger window.
- **transaction**: one read-only transaction with snapshot read concern. Used on the embedded server
  (SecantusDB): it accepts snapshot sessions but does not pin their reads (measured: a document
  inserted after the first read of a snapshot session shows in its later reads), while its
  transactions are snapshot-isolated and end only after 60 s without a statement. On MongoDB a
  transaction may live only `transactionLifetimeLimitSeconds` (60 s), so it is the fallback for
  servers older than 5.0 only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference

from shared.clock import utcnow
from shared.db import Database, MongoClient
from shop.backup.format import ClusterTime, Consistency
from shop.console import EXIT_USAGE, OperatorError
from shop.database import describe_failure

Method = Literal["snapshot-session", "transaction"]
SNAPSHOT_TOO_OLD = 239
NO_SUCH_TRANSACTION = 251
TRANSACTION_TOO_OLD = 290


async def choose_method(client: MongoClient, asked: str) -> Method:
    """The consistent-read method for this server; OperatorError when none is trustworthy."""
    build = await client.admin.command("buildInfo")
    hello = await client.admin.command("hello")
    if not hello.get("setName"):
        raise OperatorError(
            "the server is not a replica-set member, so no read can be pinned to one point in time "
            "(start it with --replSet and run rs.initiate() once)"
        )
    embedded = bool(build.get("secantusVersion"))
    if asked == "snapshot-session" and embedded:
        raise OperatorError(
            "the embedded server accepts snapshot sessions but does not pin their reads: use "
            "--consistency transaction (or auto)",
            EXIT_USAGE,
        )
    if asked in ("snapshot-session", "transaction"):
        return asked  # type: ignore[return-value]
    major = int(str(build.get("version", "0")).split(".")[0] or 0)
    return "transaction" if embedded or major < 5 else "snapshot-session"


@dataclass
class Snapshot:
    """Reads through `session` all see one point in time; `consistency()` describes it for the manifest."""

    method: Method
    session: AsyncClientSession
    opened_at: datetime
    opened: float = field(default_factory=time.monotonic)
    cluster_time: ClusterTime | None = None
    pinned_at: datetime | None = None
    closed_at: datetime | None = None
    closed: float | None = None

    def consistency(self) -> Consistency:
        assert self.pinned_at is not None
        assert self.closed_at is not None
        assert self.closed is not None
        return Consistency(
            method=self.method,
            cluster_time=self.cluster_time,
            opened_at=self.opened_at,
            pinned_at=self.pinned_at,
            closed_at=self.closed_at,
            open_seconds=round(self.closed - self.opened, 3),
        )


@asynccontextmanager
async def snapshot_of(client: MongoClient, db: Database, method: Method, url: str) -> AsyncIterator[Snapshot]:
    """A pinned snapshot of `db`; errors that mean the snapshot was lost become one clear line."""
    opened_at = utcnow()
    async with client.start_session(snapshot=method == "snapshot-session") as session:
        snapshot = Snapshot(method, session, opened_at)
        try:
            if method == "transaction":
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"), read_preference=ReadPreference.PRIMARY
                )
            # The first read pins the point in time (both methods); any collection will do.
            await db.get_collection("__shop_backup_pin__").find_one({}, session=session)
            snapshot.pinned_at = utcnow()
            if session.operation_time is not None:
                snapshot.cluster_time = ClusterTime(
                    t=session.operation_time.time, i=session.operation_time.inc
                )
            yield snapshot
        except OperationFailure as exc:
            raise OperatorError(_lost_snapshot(exc, method) or describe_failure(exc, url)) from None
        except PyMongoError as exc:
            raise OperatorError(describe_failure(exc, url)) from None
        finally:
            snapshot.closed, snapshot.closed_at = time.monotonic(), utcnow()
            if session.in_transaction:
                with contextlib.suppress(PyMongoError):
                    await session.abort_transaction()  # read-only: nothing to commit


def _lost_snapshot(exc: OperationFailure, method: Method) -> str | None:
    if exc.code == SNAPSHOT_TOO_OLD:
        return (
            "the backup took longer than the server keeps snapshot history "
            "(minSnapshotHistoryWindowInSeconds, 300 s by default): raise it, or use mongodump --oplog"
        )
    if method == "transaction" and exc.code in (NO_SUCH_TRANSACTION, TRANSACTION_TOO_OLD):
        return (
            "the server ended the backup's read transaction (its lifetime limit passed); on MongoDB use "
            "--consistency snapshot-session, or mongodump --oplog"
        )
    return None
